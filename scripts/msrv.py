"""The MSRV check of `make lint`: reads `cargo metadata --format-version 1` on stdin and fails
when a dependency in Cargo.lock declares a `rust-version` newer than the workspace's (root
Cargo.toml), which a toolchain of exactly our declared version could not build. Our own code
is held to it by clippy's `incompatible_msrv`; no second toolchain is needed for either."""

import json
import sys


def version(text):
    """'1.94' -> (1, 94, 0); a missing part counts as 0, as Cargo reads it."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    metadata = json.load(sys.stdin)
    members = set(metadata["workspace_members"])
    ours = {p["rust_version"] for p in metadata["packages"] if p["id"] in members}
    if len(ours) != 1 or None in ours:
        print(f"msrv: every workspace crate must inherit one rust-version, found {sorted(map(str, ours))}")
        return 1
    declared = ours.pop()
    newer = sorted(
        (version(p["rust_version"]), p["name"], p["version"])
        for p in metadata["packages"]
        if p["id"] not in members and p.get("rust_version")
        and version(p["rust_version"]) > version(declared)
    )
    for needs, name, v in newer:
        print(f"msrv: {name} {v} needs Rust {'.'.join(map(str, needs))}, newer than our rust-version {declared}")
    if newer:
        print("msrv: raise rust-version in the root Cargo.toml, or hold those crates back in Cargo.lock")
        return 1
    print(f"msrv: {len(metadata['packages']) - len(members)} dependencies build with Rust {declared}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
