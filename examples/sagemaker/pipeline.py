#!/usr/bin/env python3
"""SageMaker Pipelines with the trainrun image as the training step (SageMaker Python SDK v2).

    train (TrainingStep, managed spot) -> evaluation (ProcessingStep: evaluation.json as a
    PropertyFile) -> accuracy >= threshold (ConditionStep, JsonGet) -> register (ModelStep)

Why a ProcessingStep between training and the condition: SageMaker offers property files only
for processing steps. trainrun writes evaluation.json to /opt/ml/output/data (which SageMaker
packs into output.tar.gz), and after a successful run rank 0 uploads model.tar.gz,
evaluation.json, lineage.json and metrics.json (last) to the hyperparameter `output.uri`. The
processing step takes evaluation.json from that prefix and hands it on as its output.

Run:  pip install 'sagemaker>=2.150,<3' && python3 pipeline.py --role ARN --region R
      (prints the definition; --upsert creates or updates the pipeline, --start runs it)
Fill in the <...> placeholders: the image is docker/Dockerfile's `gpu` target (or `cpu`)
pushed to your ECR repository. tests/examples/test_examples.py checks this file in CI.
"""
import argparse
import json

import boto3
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TrainingStep

REGISTRY = "<account>.dkr.ecr.<region>.amazonaws.com"
TRAINING_IMAGE = f"{REGISTRY}/trainrun:gpu"    # docker/Dockerfile --target gpu
PROCESSING_IMAGE = f"{REGISTRY}/trainrun:cpu"  # --target cpu: it only copies a file (/bin/cp)

# What trainrun uploads to output.uri, and where a classifier's accuracy is in it (a binary
# classifier: binary_classification_metrics.accuracy.value; see docs/outputs.md's evaluation.json).
EVALUATION_FILE = "evaluation.json"
ACCURACY_JSON_PATH = "multiclass_classification_metrics.accuracy.value"

# trainrun's log lines as SageMaker metrics (docs/outputs.md's metric_definitions, the same list).
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": "train_loss=([0-9.]+)"},
    {"Name": "train:learning_rate", "Regex": " lr=([0-9.]+)"},
    {"Name": "train:grad_norm", "Regex": "grad_norm=([0-9.]+)"},
    {"Name": "train:samples_per_sec", "Regex": "samples_per_sec=([0-9.]+)"},
    {"Name": "train:eta_seconds", "Regex": "eta_s=([0-9.]+)"},
    {"Name": "validation:loss", "Regex": "eval_loss=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": "eval_accuracy=([0-9.]+)"},
    {"Name": "test:loss", "Regex": "test_loss=([0-9.]+)"},
    {"Name": "test:accuracy", "Regex": "test_accuracy=([0-9.]+)"},
]


def build_pipeline(role, region, name="trainrun-digits"):
    session = PipelineSession(boto_session=boto3.Session(region_name=region))

    # What a run may change without editing this file (`pipeline.start(parameters={...})`).
    artifacts = ParameterString("ArtifactPrefix", default_value="s3://<bucket>/trainrun")
    train_data = ParameterString("TrainData",
                                 default_value="s3://<bucket>/trainrun/data/digits.csv.gz")
    config = ParameterString("Config", default_value="configs/digits-mlp.yaml")
    train_steps = ParameterInteger("TrainSteps", default_value=500)
    instance_type = ParameterString("TrainingInstanceType", default_value="ml.g5.12xlarge")
    instance_count = ParameterInteger("TrainingInstanceCount", default_value=1)
    threshold = ParameterFloat("AccuracyThreshold", default_value=0.9)
    approval = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")
    # The registered model's serving image: trainrun trains, it does not serve. model.pt in
    # model.tar.gz is TorchScript (torch.jit.load), e.g. for a PyTorch inference container.
    inference_image = ParameterString("InferenceImage",
                                      default_value=f"{REGISTRY}/<serving-image>:<tag>")

    # One prefix per execution: the processing step reads evaluation.json from it.
    output_uri = Join(on="/", values=[artifacts, "models", ExecutionVariables.PIPELINE_EXECUTION_ID])

    # --- train: SageMaker runs `IMAGE train`; hyperparameters are trainrun config keys ---
    estimator = Estimator(
        image_uri=TRAINING_IMAGE,
        role=role,
        instance_type=instance_type,
        instance_count=instance_count,  # several hosts: resourceconfig.json, one rank per GPU
        hyperparameters={
            "config": config,               # a file in the image (or in a `config` channel)
            "train.steps": train_steps,
            "output.uri": output_uri,       # model.tar.gz, evaluation.json, ... after success
        },
        environment={"AWS_REGION": region},  # the region of output.uri's bucket
        output_path=Join(on="/", values=[artifacts, "sagemaker"]),
        metric_definitions=METRIC_DEFINITIONS,
        debugger_hook_config=False,  # SageMaker Debugger and its profiler need their own
        disable_profiler=True,       # Python hooks, which the image does not have
        # Managed spot: SageMaker syncs /opt/ml/checkpoints with checkpoint_s3_uri and keeps
        # TRAINING_JOB_NAME (trainrun's run name) across interruptions, so a restarted job
        # resumes from the newest checkpoint (configs say checkpoint.uri: auto).
        use_spot_instances=True,
        max_run=4 * 3600,
        max_wait=8 * 3600,  # >= max_run: the time spent waiting for spot capacity counts here
        checkpoint_s3_uri=Join(on="/", values=[artifacts, "checkpoints",
                                               ExecutionVariables.PIPELINE_EXECUTION_ID]),
        sagemaker_session=session,
    )
    # The `train` channel becomes data.path (digits reads the channel's one file; a table
    # dataset, hyperparameter data.name=table, reads the folder: train/validation/test).
    step_train = TrainingStep(
        name="Train",
        step_args=estimator.fit(inputs={"train": TrainingInput(s3_data=train_data)}),
    )

    # --- evaluation: evaluation.json from output.uri, exposed as a property file ---
    evaluation = PropertyFile(name="Evaluation", output_name="evaluation", path=EVALUATION_FILE)
    processor = Processor(
        image_uri=PROCESSING_IMAGE,
        role=role,
        instance_type="ml.t3.medium",
        instance_count=1,
        entrypoint=["/bin/cp", f"/opt/ml/processing/input/{EVALUATION_FILE}",
                    f"/opt/ml/processing/evaluation/{EVALUATION_FILE}"],
        sagemaker_session=session,
    )
    step_eval = ProcessingStep(
        name="Evaluation",
        step_args=processor.run(
            inputs=[ProcessingInput(source=Join(on="/", values=[output_uri, EVALUATION_FILE]),
                                    destination="/opt/ml/processing/input")],
            outputs=[ProcessingOutput(output_name="evaluation",
                                      source="/opt/ml/processing/evaluation",
                                      destination=Join(on="/", values=[
                                          artifacts, "evaluation",
                                          ExecutionVariables.PIPELINE_EXECUTION_ID]))],
        ),
        property_files=[evaluation],
        # The input is a prefix, not a property of the training step: say the order.
        depends_on=[step_train],
    )

    # --- register: the training step's model.tar.gz (model.pt and config.yaml at its root) ---
    model = Model(
        image_uri=inference_image,
        model_data=step_train.properties.ModelArtifacts.S3ModelArtifacts,
        role=role,
        sagemaker_session=session,
    )
    step_register = ModelStep(
        name="Register",
        step_args=model.register(
            content_types=["application/json"],
            response_types=["application/json"],
            inference_instances=["ml.g5.xlarge", "ml.m5.xlarge"],
            transform_instances=["ml.m5.xlarge"],
            model_package_group_name=name,
            approval_status=approval,
            model_metrics=ModelMetrics(model_statistics=MetricsSource(
                s3_uri=Join(on="/", values=[output_uri, EVALUATION_FILE]),
                content_type="application/json")),
        ),
    )

    step_fail = FailStep(
        name="AccuracyTooLow",
        error_message=Join(on=" ", values=["accuracy below", threshold]),
    )
    step_condition = ConditionStep(
        name="AccuracyCheck",
        conditions=[ConditionGreaterThanOrEqualTo(
            left=JsonGet(step_name=step_eval.name, property_file=evaluation,
                         json_path=ACCURACY_JSON_PATH),
            right=threshold)],
        if_steps=[step_register],
        else_steps=[step_fail],
    )

    return Pipeline(
        name=name,
        parameters=[artifacts, train_data, config, train_steps, instance_type, instance_count,
                    threshold, approval, inference_image],
        steps=[step_train, step_eval, step_condition],
        sagemaker_session=session,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", required=True, help="SageMaker execution role ARN")
    parser.add_argument("--region", required=True)
    parser.add_argument("--upsert", action="store_true", help="create or update the pipeline")
    parser.add_argument("--start", action="store_true", help="start an execution (with --upsert)")
    args = parser.parse_args()
    pipeline = build_pipeline(args.role, args.region)
    if not args.upsert:
        print(json.dumps(json.loads(pipeline.definition()), indent=2))
        return
    pipeline.upsert(role_arn=args.role)
    if args.start:
        print(pipeline.start().arn)


if __name__ == "__main__":
    main()
