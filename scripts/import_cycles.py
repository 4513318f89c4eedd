"""File-level import cycles in every crate (issue 16: "the import graph has no cycle").

An edge f -> g when file f names `crate::a::b…` or `super::…` (grouped imports expanded) and g
is the longest existing module file on that path; test modules (after `#[cfg(test)]`) and
binaries are left out; a `mod` declaration is not an edge. Prints each cycle and exits 1 when
there is one. Run by scripts/lint.sh.
"""
import glob
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
def crates():
    for toml in glob.glob(os.path.join(ROOT,'crates/**/Cargo.toml'),recursive=True):
        d=os.path.dirname(toml)
        if os.path.isdir(d+'/src'): yield d
def modpath(src,f):
    rel=os.path.relpath(f,src)[:-3].split(os.sep)
    if rel[-1]=='mod': rel=rel[:-1]
    if rel in (['lib'],['main']): rel=[]
    return rel
def resolve(src,parts):
    for k in range(len(parts),0,-1):
        p=os.path.join(src,*parts[:k])
        for cand in (p+'.rs',p+'/mod.rs'):
            if os.path.isfile(cand): return cand
    return None
total=0
for c in crates():
    src=c+'/src'
    files=[f for f in glob.glob(src+'/**/*.rs',recursive=True) if '/bin/' not in f]
    g={}
    for f in files:
        text=open(f).read().split('#[cfg(test)]')[0]
        def expand(m):
            base=m.group(1)
            return ' '.join(base+'::'+x.strip().split(' as ')[0] for x in m.group(2).split(',') if x.strip() and '{' not in x)
        for _ in range(2):
            text=re.sub(r'\b((?:crate|super)(?:::(?:super|\w+))*)::\{([^{}]*)\}', expand, text)
        me=modpath(src,f)
        for path in re.findall(r'\b((?:crate|super)(?:::(?:super|\w+))+)',text):
            segs=path.split('::')
            if segs[0]=='crate': base=[];segs=segs[1:]
            else:
                base=list(me)
                # file foo.rs: super = parent module
                while segs and segs[0]=='super':
                    base=base[:-1]; segs=segs[1:]
            t=resolve(src,base+segs)
            if t and t!=f: g.setdefault(f,set()).add(t)
    idx={};low={};st=[];on=set();res=[];i=[0]
    sys.setrecursionlimit(100000)
    def sc(v):
        idx[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
        for w in g.get(v,()):
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: res.append(comp)
    for v in list(g):
        if v not in idx: sc(v)
    for comp in res:
        total+=1; print(os.path.relpath(c,ROOT),len(comp),'files in a cycle:',sorted(os.path.relpath(x,src) for x in comp))
print('import cycles:',total)
sys.exit(1 if total else 0)
