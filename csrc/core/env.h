// Every environment variable trainrun reads or sets, named once, and the one way to read them.
#pragma once

#include <optional>
#include <string>

namespace trainrun::env {

// torchrun's per-rank contract, set by the launcher for every worker.
inline constexpr const char* kRank = "RANK";                        // global rank, 0..WORLD_SIZE-1
inline constexpr const char* kLocalRank = "LOCAL_RANK";             // rank within this node
inline constexpr const char* kWorldSize = "WORLD_SIZE";             // number of ranks in the job
inline constexpr const char* kLocalWorldSize = "LOCAL_WORLD_SIZE";  // ranks on this node
inline constexpr const char* kMasterAddr = "MASTER_ADDR";           // rendezvous store host
inline constexpr const char* kMasterPort = "MASTER_PORT";           // rendezvous store port
inline constexpr const char* kGroupRank = "GROUP_RANK";             // node index (torchrun name)
inline constexpr const char* kNodeRank = "NODE_RANK";               // node index (alias)
// Tells PyTorch's env:// rendezvous that the launcher already hosts the store (torchrun name).
inline constexpr const char* kUseAgentStore = "TORCHELASTIC_USE_AGENT_STORE";
// How many times the job has been restarted; PyTorch prefixes its store keys with it.
inline constexpr const char* kRestartCount = "TORCHELASTIC_RESTART_COUNT";
// Where a rank's uncaught error goes as JSON (PyTorch's @record writes it; the launcher reads it).
inline constexpr const char* kErrorFile = "TORCHELASTIC_ERROR_FILE";
// Threads per rank for intra-op parallelism; when unset the launcher sets cores / local ranks.
inline constexpr const char* kOmpNumThreads = "OMP_NUM_THREADS";
// SageMaker training job name; survives managed-spot restarts, so it names the run.
inline constexpr const char* kTrainingJobName = "TRAINING_JOB_NAME";
// The sagemaker-training toolkit's variables; where set they win over the /opt/ml layout.
inline constexpr const char* kSmModelDir = "SM_MODEL_DIR";             // the model folder
inline constexpr const char* kSmOutputDataDir = "SM_OUTPUT_DATA_DIR";  // extra outputs
inline constexpr const char* kSmChannelPrefix = "SM_CHANNEL_";         // + NAME: a channel
inline constexpr const char* kSmHosts = "SM_HOSTS";                    // JSON list of hosts
inline constexpr const char* kSmCurrentHost = "SM_CURRENT_HOST";       // this host's name
inline constexpr const char* kSmNumGpus = "SM_NUM_GPUS";               // GPUs of this host
// Where a rank writes its failure reason, one line, first failure wins (`trainrun train` sets
// it to SageMaker's /opt/ml/output/failure).
inline constexpr const char* kFailureFile = "TRAINRUN_FAILURE_FILE";
// Directory holding data files such as digits.csv.gz when data.path is not set.
inline constexpr const char* kDataDir = "TRAINRUN_DATA_DIR";
// Local cache of data files fetched from S3 (data.name=table); default ~/.cache/trainrun.
inline constexpr const char* kCacheDir = "TRAINRUN_CACHE_DIR";
inline constexpr const char* kXdgCacheHome = "XDG_CACHE_HOME";
// Network interface Gloo binds for cross-node traffic (PyTorch name).
inline constexpr const char* kGlooSocketIfname = "GLOO_SOCKET_IFNAME";
// This node's address as the other nodes reach it (the launcher sets it for multi-node runs):
// Gloo binds it unless GLOO_SOCKET_IFNAME names an interface.
inline constexpr const char* kLocalAddr = "TRAINRUN_LOCAL_ADDR";
// The shared secret of a multi-node rendezvous (never printed), or a file holding it.
inline constexpr const char* kRdzvToken = "TRAINRUN_RDZV_TOKEN";
inline constexpr const char* kRdzvTokenFile = "TRAINRUN_RDZV_TOKEN_FILE";
// "1": the launcher runs the job elastic; ranks join generations (store/generation.h).
inline constexpr const char* kElastic = "TRAINRUN_ELASTIC";
// Store key prefix the launcher gives its ranks: secret, derived from the rendezvous token.
inline constexpr const char* kStorePrefix = "TRAINRUN_STORE_PREFIX";
// "etcd": MASTER_ADDR:MASTER_PORT is an etcd server (--rdzv-backend etcd); unset: a TCPStore.
inline constexpr const char* kStoreBackend = "TRAINRUN_STORE_BACKEND";
// etcd's user and password when its authentication is on (`etcdctl auth enable`).
inline constexpr const char* kEtcdUser = "TRAINRUN_ETCD_USER";
inline constexpr const char* kEtcdPassword = "TRAINRUN_ETCD_PASSWORD";
// TLS to etcd (torchrun's --rdzv-conf protocol, ca_cert, ssl_cert, ssl_cert_key set them for
// the launcher and its ranks): "https", the CA bundle that verifies etcd's certificate (the
// system's when unset), and the client certificate and key for etcd's --client-cert-auth.
inline constexpr const char* kEtcdProtocol = "TRAINRUN_ETCD_PROTOCOL";
inline constexpr const char* kEtcdCaCert = "TRAINRUN_ETCD_CA_CERT";
inline constexpr const char* kEtcdSslCert = "TRAINRUN_ETCD_SSL_CERT";
inline constexpr const char* kEtcdSslCertKey = "TRAINRUN_ETCD_SSL_CERT_KEY";
// Root of the filesystem where scheduler files are looked up (/opt/ml/...); tests set it.
inline constexpr const char* kFsRoot = "TRAINRUN_FS_ROOT";
// Dense peak TFLOPS of one device at the run's precision, for MFU where trainrun does not know
// the device (any CPU; GPUs other than H100, H200, A100).
inline constexpr const char* kPeakTflops = "TRAINRUN_PEAK_TFLOPS";
// The preemption notice file (preemption/preempt_file.h): the agent writes it, then SIGTERMs its
// ranks; its presence is what makes the built-in worker stop at a step boundary.
inline constexpr const char* kPreemptFile = "TRAINRUN_PREEMPT_FILE";
// Path of the worker binary the launcher runs for a CONFIG (default: next to `trainrun`).
inline constexpr const char* kWorkerBin = "TRAINRUN_WORKER";
// Folder where a rank heartbeats its progress and writes its hang dump (the launcher sets it for
// the built-in worker; unset: no dump thread). Set for the launcher, it keeps the dumps there.
inline constexpr const char* kDumpDir = "TRAINRUN_DUMP_DIR";
// Fault injection for tests (train/fault_freeze.h): "RANK:STEP" freezes that rank at that step,
// its dump thread too, so the launcher sees a rank that does not answer its dump request.
inline constexpr const char* kFaultFreeze = "TRAINRUN_FAULT_FREEZE";
// For tests (train/graphed_step.h): "1" lets train.cuda_graph run on a CPU rank, where the
// step runs eagerly with its state on the device (the CPU), so the Trainer's graphed path is
// tested end to end (checkpoints, resume, log lines) on machines without a GPU.
inline constexpr const char* kGraphedStepOnCpu = "TRAINRUN_GRAPHED_STEP_ON_CPU";
// For tests and benchmarks (train/sample_log.h): a folder where each rank of a data.name=tokens
// run appends the window ids of every micro-batch it trains on.
inline constexpr const char* kSampleLog = "TRAINRUN_SAMPLE_LOG";
// Set by the launcher for its ranks: the folder holding its listings of data.path and
// data.validation_path (data/shard_listing.h), so a node lists token shards once.
inline constexpr const char* kShardListings = "TRAINRUN_SHARD_LISTINGS";
// Folder for temporary files (default /tmp): the launcher's private hang-dump and listing
// folders go here.
inline constexpr const char* kTmpDir = "TMPDIR";

// S3 checkpoint storage (storage/s3/): the AWS SDKs' names, so existing setups just work.
// Static credentials; the session token only for temporary ones.
inline constexpr const char* kAwsAccessKeyId = "AWS_ACCESS_KEY_ID";
inline constexpr const char* kAwsSecretAccessKey = "AWS_SECRET_ACCESS_KEY";
inline constexpr const char* kAwsSessionToken = "AWS_SESSION_TOKEN";
// Shared credentials file (default ~/.aws/credentials), the config file (default ~/.aws/config:
// "[profile NAME]" sections with region and credentials) and the profile (default "default").
inline constexpr const char* kAwsSharedCredentialsFile = "AWS_SHARED_CREDENTIALS_FILE";
inline constexpr const char* kAwsConfigFile = "AWS_CONFIG_FILE";
inline constexpr const char* kAwsProfile = "AWS_PROFILE";
// Home directory, to find ~/.aws/credentials and ~/.aws/config.
inline constexpr const char* kHome = "HOME";
// Region of the bucket; AWS_REGION wins over AWS_DEFAULT_REGION, then the profile's region in
// the config file, then EC2 instance metadata; none is an error naming them (as boto3's).
inline constexpr const char* kAwsRegion = "AWS_REGION";
inline constexpr const char* kAwsDefaultRegion = "AWS_DEFAULT_REGION";
// S3-compatible endpoint (MinIO, moto, ...); the S3-specific name wins over the generic one.
inline constexpr const char* kAwsEndpointUrlS3 = "AWS_ENDPOINT_URL_S3";
inline constexpr const char* kAwsEndpointUrl = "AWS_ENDPOINT_URL";
// ECS / SageMaker / EKS Pod Identity credentials endpoint: a path on 169.254.170.2, or a URL.
inline constexpr const char* kAwsContainerCredentialsRelativeUri =
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
inline constexpr const char* kAwsContainerCredentialsFullUri = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
// Authorization header value for the container endpoint, inline or in a file (file wins).
inline constexpr const char* kAwsContainerAuthorizationToken = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
inline constexpr const char* kAwsContainerAuthorizationTokenFile =
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
// Web identity (EKS IRSA, Kubeflow): a token file and the role to assume with it through STS
// AssumeRoleWithWebIdentity; the session name is optional; AWS_ENDPOINT_URL_STS (else
// AWS_ENDPOINT_URL) points at another STS endpoint.
inline constexpr const char* kAwsWebIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE";
inline constexpr const char* kAwsRoleArn = "AWS_ROLE_ARN";
inline constexpr const char* kAwsRoleSessionName = "AWS_ROLE_SESSION_NAME";
inline constexpr const char* kAwsEndpointUrlSts = "AWS_ENDPOINT_URL_STS";
// "true" skips the EC2 instance metadata service (IMDSv2) in the credentials chain.
inline constexpr const char* kAwsEc2MetadataDisabled = "AWS_EC2_METADATA_DISABLED";
// Overrides the IMDS base URL (default http://169.254.169.254), as the AWS SDKs allow.
inline constexpr const char* kAwsEc2MetadataServiceEndpoint = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
// Tries per S3 request, the first one included (the AWS SDKs' name; default 5).
inline constexpr const char* kAwsMaxAttempts = "AWS_MAX_ATTEMPTS";
// Base of the S3 retry backoff in milliseconds (default 200); tests make it small.
inline constexpr const char* kS3RetryBaseMs = "TRAINRUN_S3_RETRY_BASE_MS";
// Seconds an S3 transfer may move under 1 KiB/s before it is abandoned and retried (default 30).
inline constexpr const char* kS3StallTimeoutS = "TRAINRUN_S3_STALL_TIMEOUT_S";

// The first executable file `name` in the folders of $PATH, as execvp would run it; `name`
// itself when it contains a slash; "" when there is none.
std::string findOnPath(const std::string& name);
// The value of `name`; "" when unset (launchers often export VAR="", so both mean unset).
std::string get(const char* name);
// The integer in `name`, or nullopt when unset or empty; ConfigError naming the variable and
// the range when it is not an integer in [lo, hi].
std::optional<long long> integer(const char* name, long long lo, long long hi);

}  // namespace trainrun::env
