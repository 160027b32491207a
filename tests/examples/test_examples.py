#!/usr/bin/env python3
"""The recipes in examples/ as a user copies them: each parses (Python compiles, YAML and JSON
load, `bash -n` passes) and relies only on what exists: config keys in csrc/config/config.proto,
flags the launcher parses (csrc/launch/cli.cpp), config files in configs/, image targets in
docker/Dockerfile, the platform variables csrc/launch/scheduler_env.cpp reads and none set by
hand, retry codes equal to core/error.h's and docs/operations.md's "Exit codes". The SageMaker
pipeline's training step runs for real: `trainrun train` against a fake /opt/ml with the
pipeline's hyperparameters (output.uri a local folder), and its JsonGet path is read from the
evaluation.json that lands at output.uri, as the processing step would take it."""
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import DATA, REPO, TRAINRUN  # noqa: E402

EXAMPLES = os.path.join(REPO, "examples")
PIPELINE = os.path.join(EXAMPLES, "sagemaker", "pipeline.py")
PYTORCHJOB = os.path.join(EXAMPLES, "kubeflow", "pytorchjob.yaml")
BATCH = os.path.join(EXAMPLES, "aws-batch", "job-definition.json")
SBATCH = os.path.join(EXAMPLES, "slurm", "train.sbatch")
IMAGE_IN_CONTAINER = "/opt/trainrun"  # the image's WORKDIR: its configs/ are the repo's
# Launcher flags that name the node layout: a scheduler's variables give it, never the recipe.
LAYOUT_FLAGS = {"--nnodes", "--nodes", "--node-rank", "--master-addr", "--master-port",
                "--rdzv-endpoint", "--rdzv-id", "--standalone"}
# Variables each platform sets itself; a recipe that sets one fights the platform.
KUBEFLOW_SETS = ["PET_NNODES", "PET_NODE_RANK", "PET_NPROC_PER_NODE", "MASTER_ADDR",
                 "MASTER_PORT", "WORLD_SIZE", "RANK"]
BATCH_SETS = ["AWS_BATCH_JOB_NUM_NODES", "AWS_BATCH_JOB_NODE_INDEX",
              "AWS_BATCH_JOB_MAIN_NODE_INDEX", "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS",
              "AWS_BATCH_JOB_ID", "AWS_BATCH_JOB_ATTEMPT"]
# Slurm variables the sbatch script may read for itself (not trainrun's job layout).
SLURM_SCRIPT_ONLY = {"SLURM_RESTART_COUNT"}


def read(*path):
    with open(os.path.join(REPO, *path)) as f:
        return f.read()


def config_schema():
    """{"train": {"steps", ...}, ...} and the top-level scalar keys, from config.proto."""
    proto = read("csrc", "config", "config.proto")
    messages = {}
    for name, body in re.findall(r"^message (\w+) \{(.*?)^\}", proto, re.M | re.S):
        fields = re.findall(r"^\s*(?:optional|repeated) (\w+) (\w+) =", body, re.M)
        messages[name] = {field: field_type for field_type, field in fields}
    sections, scalars = {}, set()
    for field, field_type in messages["JobConfig"].items():
        if field_type in messages:
            sections[field] = set(messages[field_type])
        else:
            scalars.add(field)
    return sections, scalars


SECTIONS, SCALARS = config_schema()


def is_config_key(key):
    section, dot, field = key.partition(".")
    return (key in SCALARS) if not dot else field in SECTIONS.get(section, set())


def launcher_flags():
    """Every --flag the launcher's parser and help name (csrc/launch/cli.cpp)."""
    return set(re.findall(r'"(--[a-z][a-z-]*)', read("csrc", "launch", "cli.cpp")))


def retryable_codes():
    """core/error.h's exit codes a scheduler retries: {"kExitPreempted": 143, ...}."""
    codes = dict((n, int(v)) for n, v in re.findall(r"constexpr int (kExit\w+) = (\d+);",
                                                   read("csrc", "core", "error.h")))
    assert codes, "no kExit* constants in csrc/core/error.h"
    return codes


def readme_exit_codes():
    """docs/operations.md's "Exit codes" table: {code: retried?} for its numeric rows."""
    text = read("docs", "operations.md")
    table = text[text.index("## Exit codes"):]
    table = table[:table.index("\n## ", 1)]
    rows = re.findall(r"^\|\s*(\d+)\s*\|.*\|\s*(yes|no|-)\s*\|\s*$", table, re.M)
    return {int(code): retry == "yes" for code, retry in rows}


def scheduler_variables():
    """Environment variable names csrc/launch/scheduler_env.cpp reads (string literals)."""
    return set(re.findall(r'"([A-Z][A-Z0-9_]+)"', read("csrc", "launch", "scheduler_env.cpp")))


def dockerfile_targets():
    return set(re.findall(r"^FROM \S+ AS (\S+)", read("docker", "Dockerfile"), re.M))


def image_tags(text):
    """The tags of every trainrun image a recipe names (`.../trainrun:gpu`, `...#trainrun:cpu`)."""
    return re.findall(r"[/#]trainrun:([A-Za-z0-9_.-]+)", text)


class LauncherArgs:
    """A recipe's trainrun argument list: flags, the CONFIG and its --set overrides."""

    def __init__(self, args):
        self.flags, self.sets, self.config = [], {}, None
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--set":
                key, _, value = args[i + 1].partition("=")
                self.sets[key] = value
                i += 2
                continue
            if a.startswith("--"):
                self.flags.append(a.split("=")[0])
                i += 1 if "=" in a or a in ("--standalone",) else 2
                continue
            self.config = a
            i += 1


class Checks(unittest.TestCase):
    def check_launcher_args(self, args, where):
        parsed = LauncherArgs(args)
        known = launcher_flags()
        for flag in parsed.flags:
            self.assertIn(flag, known, f"{where}: trainrun has no flag {flag}")
            self.assertNotIn(flag, LAYOUT_FLAGS,
                             f"{where}: {flag} overrides the scheduler's node layout")
        self.assertIsNotNone(parsed.config, f"{where}: no CONFIG in {args}")
        config = parsed.config
        if config.startswith(IMAGE_IN_CONTAINER + "/"):
            config = config[len(IMAGE_IN_CONTAINER) + 1:]
        self.assertTrue(os.path.isfile(os.path.join(REPO, config)),
                        f"{where}: {parsed.config} is not a config the image ships")
        for key in parsed.sets:
            self.assertTrue(is_config_key(key), f"{where}: --set {key}: no such config key")
        return parsed

    def check_images(self, text, where):
        tags = image_tags(text)
        self.assertTrue(tags, f"{where} names no trainrun image")
        for tag in tags:
            self.assertIn(tag, dockerfile_targets(),
                          f"{where}: trainrun:{tag} is no target of docker/Dockerfile")


class Schema(unittest.TestCase):
    """The helpers read what they claim to (so the checks below can fail)."""

    def test_helpers_see_the_sources(self):
        self.assertIn("steps", SECTIONS["train"])
        self.assertIn("uri", SECTIONS["output"])
        self.assertIn("resume", SCALARS)
        self.assertTrue(is_config_key("train.steps"))
        self.assertFalse(is_config_key("train.stepz"))
        self.assertFalse(is_config_key("nosuch.steps"))
        self.assertIn("--nproc-per-node", launcher_flags())
        self.assertNotIn("--nproc-per-gpu", launcher_flags())
        self.assertGreaterEqual({"cpu", "gpu"}, {"cpu", "gpu"} & dockerfile_targets())
        self.assertIn("SLURM_NNODES", scheduler_variables())
        self.assertEqual(image_tags("<a>.dkr.ecr.<r>.amazonaws.com/trainrun:gpu x#trainrun:cpu"),
                         ["gpu", "cpu"])

    def test_retry_codes_are_those_of_the_readme(self):
        codes = retryable_codes()
        table = readme_exit_codes()
        for name, code in codes.items():
            self.assertGreaterEqual(code, 128, f"{name}={code}: Kubeflow's ExitCode policy "
                                    "retries only 128-255")
            self.assertTrue(table.get(code), f"{name}={code} is not a retried row of the "
                            "Exit codes table of docs/operations.md")
        self.assertFalse(table.get(2, True), "exit code 2 (config error) must be permanent")


class SageMakerPipeline(Checks):
    """examples/sagemaker/pipeline.py, read as a program (the SDK is not installed here)."""

    @classmethod
    def setUpClass(cls):
        with open(PIPELINE) as f:
            cls.source = f.read()
        cls.tree = ast.parse(cls.source, PIPELINE)
        compile(cls.source, PIPELINE, "exec")
        cls.constants = {}
        for node in cls.tree.body:  # module-level NAME = literal
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                try:
                    cls.constants[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
        cls.assigned = {}  # every NAME = <call>, anywhere
        for node in ast.walk(cls.tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                cls.assigned[node.targets[0].id] = node.value

    def calls(self, name):
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)
                and ((isinstance(n.func, ast.Name) and n.func.id == name)
                     or (isinstance(n.func, ast.Attribute) and n.func.attr == name))]

    def one_call(self, name):
        found = self.calls(name)
        self.assertEqual(len(found), 1, f"pipeline.py: expected one {name}(...)")
        return found[0]

    def kwarg(self, call, name):
        for k in call.keywords:
            if k.arg == name:
                return k.value
        self.fail(f"pipeline.py: {ast.unparse(call.func)}(...) has no {name}=")

    def value(self, node):
        """A literal, a module constant, or a Parameter's default value."""
        if isinstance(node, ast.Name):
            if node.id in self.constants:
                return self.constants[node.id]
            call = self.assigned.get(node.id)
            if isinstance(call, ast.Call) and ast.unparse(call.func).startswith("Parameter"):
                return ast.literal_eval(self.kwarg(call, "default_value"))
            if isinstance(call, ast.Call):
                return call
        if isinstance(node, (ast.BinOp, ast.JoinedStr)):  # 4 * 3600, f"{REGISTRY}/..."
            return eval(compile(ast.Expression(node), "<expr>", "eval"), dict(self.constants))
        return ast.literal_eval(node)

    def hyperparameters(self):
        node = self.kwarg(self.one_call("Estimator"), "hyperparameters")
        self.assertIsInstance(node, ast.Dict)
        return {ast.literal_eval(k): v for k, v in zip(node.keys, node.values)}

    def join_values(self, node):
        """Join(on=..., values=[...]) -> the values' nodes (a Name is followed to its Join)."""
        if isinstance(node, ast.Name):
            node = self.assigned[node.id]
        self.assertEqual(ast.unparse(node.func), "Join")
        return self.kwarg(node, "values").elts

    def test_hyperparameters_are_config_keys(self):
        hps = self.hyperparameters()
        self.assertIn("output.uri", hps)
        for key in hps:
            if key == "config":  # trainrun's own hyperparameter: the config file
                path = self.value(hps[key])
                self.assertTrue(os.path.isfile(os.path.join(REPO, path)), path)
                continue
            self.assertTrue(is_config_key(key), f"hyperparameter {key}: no such config key")
        # The channels are those trainrun maps to data keys.
        channels = set(re.findall(r'\{"(\w+)", "data\.\w+"\}', read("csrc", "pipeline",
                                                                    "sagemaker.cpp")))
        inputs = self.kwarg(self.one_call("fit"), "inputs")
        for key in inputs.keys:
            self.assertIn(ast.literal_eval(key), channels | {"config"})

    def test_evaluation_json_reaches_the_condition_through_a_processing_step(self):
        evaluation = self.constants["EVALUATION_FILE"]
        self.assertEqual(evaluation, "evaluation.json")
        # The processing input is output.uri's evaluation.json ...
        output_uri = self.hyperparameters()["output.uri"]
        source = self.kwarg(self.one_call("ProcessingInput"), "source")
        values = self.join_values(source)
        self.assertEqual(ast.unparse(values[0]), ast.unparse(output_uri),
                         "ProcessingInput must read from the hyperparameter output.uri")
        self.assertEqual(self.value(values[-1]), evaluation)
        destination = self.value(self.kwarg(self.one_call("ProcessingInput"), "destination"))
        # ... the processor copies it into the output the property file names ...
        entrypoint = [self.value(e) for e in self.kwarg(self.one_call("Processor"),
                                                        "entrypoint").elts]
        output = self.one_call("ProcessingOutput")
        out_source = self.value(self.kwarg(output, "source"))
        self.assertEqual(entrypoint, ["/bin/cp", f"{destination}/{evaluation}",
                                      f"{out_source}/{evaluation}"])
        prop = self.one_call("PropertyFile")
        self.assertEqual(self.value(self.kwarg(prop, "output_name")),
                         self.value(self.kwarg(output, "output_name")))
        self.assertEqual(self.value(self.kwarg(prop, "path")), evaluation)
        step = [c for c in self.calls("ProcessingStep")][0]
        self.assertIn(self.assigned_name(prop), ast.unparse(self.kwarg(step, "property_files")))
        # ... after the training step (no property of it links them) ...
        train_step = self.assigned_name(self.one_call("TrainingStep"))
        self.assertIn(train_step, ast.unparse(self.kwarg(step, "depends_on")))
        # ... and the condition reads the accuracy with JsonGet.
        get = self.one_call("JsonGet")
        self.assertEqual(ast.unparse(self.kwarg(get, "property_file")), self.assigned_name(prop))
        path = self.value(self.kwarg(get, "json_path"))
        self.assertEqual(path, "multiclass_classification_metrics.accuracy.value")
        self.assertIn('"multiclass_classification_metrics"', read("csrc", "pipeline",
                                                                  "evaluation.cpp"))
        self.assertIn(path, read("tests", "integration", "test_pipeline.py"))
        self.assertTrue(self.calls("ConditionGreaterThanOrEqualTo"))

    def assigned_name(self, call):
        for name, node in self.assigned.items():
            if node is call:
                return name
        self.fail(f"pipeline.py: {ast.unparse(call.func)}(...) is not assigned to a name")

    def test_the_registered_model_is_the_training_steps_artifact(self):
        model = self.one_call("Model")
        self.assertIn(self.assigned_name(self.one_call("TrainingStep")) +
                      ".properties.ModelArtifacts.S3ModelArtifacts",
                      ast.unparse(self.kwarg(model, "model_data")))
        register = self.kwarg(self.one_call("ModelStep"), "step_args")
        self.assertEqual(ast.unparse(register.func), self.assigned_name(model) + ".register")
        condition = self.one_call("ConditionStep")
        self.assertIn(self.assigned_name(self.one_call("ModelStep")),
                      ast.unparse(self.kwarg(condition, "if_steps")))

    def test_managed_spot_resumes_from_opt_ml_checkpoints(self):
        est = self.one_call("Estimator")
        self.assertIs(self.value(self.kwarg(est, "use_spot_instances")), True)
        self.assertGreaterEqual(self.value(self.kwarg(est, "max_wait")),
                                self.value(self.kwarg(est, "max_run")))
        self.kwarg(est, "checkpoint_s3_uri")

    def test_images_and_metric_definitions(self):
        self.check_images(self.source, "pipeline.py")
        text = read("docs", "outputs.md")
        block = text[text.index("<!-- metric_definitions -->"):]
        block = block[block.index("```json") + 7:block.index("```", block.index("```json") + 7)]
        self.assertEqual(self.constants["METRIC_DEFINITIONS"], json.loads(block),
                         "pipeline.py's METRIC_DEFINITIONS differ from docs/outputs.md's")

    def test_the_training_step_runs_and_json_get_finds_the_accuracy(self):
        """`trainrun train` as SageMaker runs it, with the pipeline's hyperparameters (their
        defaults; output.uri a local folder; fewer steps), then JsonGet's path on
        evaluation.json at output.uri, as the processing step downloads it."""
        self.assertTrue(os.access(TRAINRUN, os.X_OK), f"{TRAINRUN} is not built")
        tmp = tempfile.mkdtemp(prefix="trainrun_examples_")
        self.addCleanup(shutil.rmtree, tmp)
        ml = os.path.join(tmp, "opt", "ml")
        for d in ["model", "output/data", "checkpoints", "input/data/train", "input/config"]:
            os.makedirs(os.path.join(ml, d))
        shutil.copy(DATA,
                    os.path.join(ml, "input/data/train/digits.csv.gz"))
        uploaded = os.path.join(tmp, "output-uri")
        hps = {}
        for key, node in self.hyperparameters().items():
            value = self.value(node)
            hps[key] = value if isinstance(value, str) else str(value)
        hps["output.uri"] = uploaded
        hps["train.steps"] = "120"
        with open(os.path.join(ml, "input/config/hyperparameters.json"), "w") as f:
            json.dump(hps, f)
        with open(os.path.join(ml, "input/config/resourceconfig.json"), "w") as f:
            json.dump({"current_host": "algo-1", "hosts": ["algo-1"],
                       "network_interface_name": "lo"}, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SLURM_",
                                                                         "PET_", "AWS_BATCH"))}
        env.update(TRAINRUN_FS_ROOT=tmp, TRAINING_JOB_NAME="pipelines-example",
                   AWS_EC2_METADATA_DISABLED="true", CUDA_VISIBLE_DEVICES="")
        p = subprocess.run([TRAINRUN, "train"], cwd=tmp, capture_output=True, text=True,
                           timeout=120, env=env)
        log = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, log)
        self.assertTrue(os.path.isfile(os.path.join(ml, "model", "model.pt")), log)
        self.assertTrue(os.path.isfile(os.path.join(ml, "output", "data", "evaluation.json")))
        with open(os.path.join(uploaded, self.constants["EVALUATION_FILE"])) as f:
            value = json.load(f)
        for part in self.constants["ACCURACY_JSON_PATH"].split("."):
            self.assertIn(part, value, f"JsonGet path: no {part} in evaluation.json")
            value = value[part]
        self.assertIsInstance(value, float)
        # The condition's default threshold passes on the digits (here after 120 steps).
        threshold = self.value(ast.Name(self.assigned_name(self.one_call("ParameterFloat"))))
        self.assertGreaterEqual(value, threshold, log)
        print(f"\npipeline.py's training step: accuracy {value:.4f} at "
              f"{self.constants['ACCURACY_JSON_PATH']}", flush=True)


class KubeflowPyTorchJob(Checks):
    @classmethod
    def setUpClass(cls):
        with open(PYTORCHJOB) as f:
            cls.text = f.read()
        cls.job = yaml.safe_load(cls.text)

    def test_shape(self):
        self.assertEqual(self.job["apiVersion"], "kubeflow.org/v1")
        self.assertEqual(self.job["kind"], "PyTorchJob")
        replicas = self.job["spec"]["pytorchReplicaSpecs"]
        self.assertEqual(set(replicas), {"Master", "Worker"})
        self.assertEqual(replicas["Master"]["replicas"], 1)
        # elasticPolicy makes PET_NNODES a range for torchrun's rendezvous.
        self.assertNotIn("elasticPolicy", self.job["spec"])
        self.check_images(self.text, "pytorchjob.yaml")

    def test_exit_code_policy_and_the_operators_variables_only(self):
        read_vars = scheduler_variables()
        for var in ["PET_NNODES", "PET_NODE_RANK", "PET_NPROC_PER_NODE", "MASTER_ADDR",
                    "MASTER_PORT"]:
            self.assertIn(var, read_vars, f"scheduler_env.cpp does not read {var}")
        for role, spec in self.job["spec"]["pytorchReplicaSpecs"].items():
            self.assertEqual(spec["restartPolicy"], "ExitCode", role)
            containers = spec["template"]["spec"]["containers"]
            self.assertEqual(containers[0]["name"], "pytorch", role)
            for c in containers:
                for e in c.get("env", []):
                    self.assertNotIn(e["name"], KUBEFLOW_SETS,
                                     f"{role}: sets {e['name']}, which the operator sets")
                    self.assertFalse(e["name"].startswith("PET_"), f"{role}: sets {e['name']}")
                self.assertIn("nvidia.com/gpu", c["resources"]["limits"])
                self.assertNotIn("command", c, f"{role}: the image's entrypoint is trainrun")
                self.check_launcher_args(c["args"], f"pytorchjob.yaml {role}")
            grace = spec["template"]["spec"].get("terminationGracePeriodSeconds", 30)
            self.assertGreater(grace, 120, f"{role}: SIGKILL before trainrun's grace period")


class AwsBatchJobDefinition(Checks):
    @classmethod
    def setUpClass(cls):
        with open(BATCH) as f:
            cls.text = f.read()
        cls.job = json.loads(cls.text)

    def test_multinode_shape(self):
        self.assertEqual(self.job["type"], "multinode")
        nodes = self.job["nodeProperties"]
        self.assertGreaterEqual(nodes["numNodes"], 2)
        self.assertIn(nodes["mainNode"], range(nodes["numNodes"]))
        covered = set()
        for r in nodes["nodeRangeProperties"]:
            lo, colon, hi = r["targetNodes"].partition(":")
            lo = int(lo or 0)
            hi = int(hi) if hi else nodes["numNodes"] - 1
            covered |= set(range(lo, hi + 1) if colon else {lo})
            c = r["container"]
            for e in c.get("environment", []):
                self.assertFalse(e["name"].startswith("AWS_BATCH_"),
                                 f"sets {e['name']}, which Batch sets")
            self.check_launcher_args(c["command"], "job-definition.json")
            self.assertIn({"type": "GPU", "value": c["resourceRequirements"][0]["value"]},
                          c["resourceRequirements"])
        self.assertEqual(covered, set(range(nodes["numNodes"])), "nodes without a container")
        for var in BATCH_SETS:
            self.assertIn(var, scheduler_variables(), f"scheduler_env.cpp does not read {var}")
        self.check_images(self.text, "job-definition.json")

    def test_retry_strategy_retries_exactly_trainruns_retryable_codes(self):
        rules = self.job["retryStrategy"]["evaluateOnExit"]
        self.assertLessEqual(len(rules), 5, "Batch takes at most 5 evaluateOnExit rules")

        def action(code):  # Batch: the first rule whose patterns all match decides
            for rule in rules:
                if fnmatch.fnmatchcase(str(code), rule.get("onExitCode", "*")) and \
                        "onStatusReason" not in rule and \
                        fnmatch.fnmatchcase("Essential container in task exited",
                                            rule.get("onReason", "*")):
                    return rule["action"].upper()
            return "RETRY"  # no rule matched: Batch retries while attempts remain

        retried = {code for code in range(1, 256) if action(code) == "RETRY"}
        self.assertEqual(retried, set(retryable_codes().values()))
        self.assertEqual(action(2), "EXIT")
        self.assertEqual(action(1), "EXIT")
        self.assertGreater(self.job["retryStrategy"]["attempts"], 1)


class SlurmScript(Checks):
    @classmethod
    def setUpClass(cls):
        with open(SBATCH) as f:
            cls.text = f.read()

    def test_bash_syntax(self):
        p = subprocess.run(["bash", "-n", SBATCH], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_directives(self):
        directives = re.findall(r"^#SBATCH (--[a-z-]+)(?:=(\S+))?", self.text, re.M)
        names = dict(directives)
        self.assertIn("--requeue", names)
        self.assertEqual(names.get("--ntasks-per-node"), "1", "one trainrun per node")
        self.assertIn("--nodes", names)
        # #SBATCH lines count only before the first command.
        first_command = min(i for i, line in enumerate(self.text.splitlines())
                            if line.strip() and not line.startswith("#"))
        last_directive = max(i for i, line in enumerate(self.text.splitlines())
                             if line.startswith("#SBATCH"))
        self.assertLess(last_directive, first_command)

    def test_slurm_variables_and_the_trainrun_command(self):
        used = set(re.findall(r"\b(SLURM_[A-Z_]+)", self.text))
        read_vars = {v for v in scheduler_variables() if v.startswith("SLURM_")}
        # SLURM_RESTART_COUNT: a requeued job's run id names the restart
        self.assertEqual(read_vars, {"SLURM_NNODES", "SLURM_NODEID", "SLURM_JOB_NODELIST",
                                     "SLURM_JOB_ID", "SLURM_RESTART_COUNT"})
        self.assertLessEqual(used, read_vars | SLURM_SCRIPT_ONLY)
        self.assertIsNone(re.search(r"^\s*(export\s+)?(SLURM_\w+|MASTER_\w+|PET_\w+)=",
                                    self.text, re.M), "sets a scheduler variable")
        # The srun command, continuation lines joined, split as the shell would (no expansion).
        body = "\n".join(l for l in self.text.splitlines() if not l.lstrip().startswith("#"))
        srun = re.search(r"^srun .*?(?<!\\)$", body.replace("\\\n", " "), re.M).group(0)
        words = srun.split()
        self.assertTrue(any(w.startswith("--container-image=") for w in words), srun)
        start = words.index("/opt/trainrun/bin/trainrun")
        args = [w.strip('"') for w in words[start + 1:]]
        self.check_launcher_args(args, "train.sbatch")
        self.check_images(self.text, "train.sbatch")
        # The requeue test matches the retryable codes (all >= 128).
        self.assertIn('[ "$rc" -ge 128 ]', self.text)
        self.assertTrue(all(c >= 128 for c in retryable_codes().values()))


class ExamplesReadme(unittest.TestCase):
    def test_names_every_recipe(self):
        text = read("examples", "README.md")
        for path in [PIPELINE, PYTORCHJOB, BATCH, SBATCH]:
            self.assertIn(os.path.relpath(path, EXAMPLES), text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
