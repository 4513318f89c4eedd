//! StartAsyncInvoke jobs in the worker: the job's native body goes through the one metered
//! InvokeModel call, and the answer is written to `<s3Uri>/<invocation id>/output.json`
//! before the processor finishes the job, so `Completed` always means the object is there.
//! Every other job runs through the wrapped runner unchanged.

use crate::MeteredJobRunner;
use gateway::GatewayError;
use gateway::api::converse::ConverseRequest;
use gateway::api::invoke::InvokeRequest;
use gateway::controls::RouteClass;
use gateway::controls::usage::from_invoke_body;
use gateway::jobs::async_invoke::{
    AsyncInvokeJob, InvocationOutputs, S3_URI_FIELD, invalid, summarise_answer,
};
use gateway::jobs::processor::{JobAnswer, JobRunner};
use gateway::metered::{Call, Meter};
use gateway::ports::ModelClient;
use gateway::service::Caller;

/// The worker's runner with where async invocations' answers go (`None`: no output bucket,
/// such jobs fail saying so).
pub struct WithOutputs<'a, M, O> {
    pub runner: &'a MeteredJobRunner<M>,
    pub outputs: Option<&'a O>,
}

impl<M: ModelClient, O: InvocationOutputs> JobRunner for WithOutputs<'_, M, O> {
    async fn run(
        &self,
        caller: Caller<'_>,
        model: &str,
        request: &ConverseRequest,
    ) -> Result<JobAnswer, GatewayError> {
        self.runner.run(caller, model, request).await
    }

    async fn invoke(
        &self,
        caller: Caller<'_>,
        job: &AsyncInvokeJob,
    ) -> Result<JobAnswer, GatewayError> {
        let outputs = self.outputs.ok_or_else(|| {
            invalid(
                S3_URI_FIELD,
                "this deployment has no output bucket (ASYNC_INVOKE_BUCKET)",
            )
        })?;
        let (bucket, key) = job.output_object()?;
        let request = InvokeRequest {
            model_id: job.model_id.clone(),
            body: serde_json::to_vec(&job.model_input)
                .map_err(|e| GatewayError::Internal(format!("model input: {e}")))?,
            content_type: Some("application/json".to_owned()),
            accept: Some("application/json".to_owned()),
        };
        // Admitted at submit, like every job: the processor settles the job's charge.
        let call = Call::admitted(caller, RouteClass::Jobs, None);
        let served = Meter::unadmitted(&self.runner.0)
            .invoke(&call, &job.model_id, &request)
            .await
            .map_err(|refused| refused.error)?
            .served;
        let body = served.value.body;
        let response = summarise_answer(&body, from_invoke_body(&body));
        outputs.put(&bucket, &key, body).await?;
        Ok(JobAnswer {
            response,
            model: served.target.model_id,
            region: served.target.region,
        })
    }
}
