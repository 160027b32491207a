// output.uri: the outputs a run leaves where no platform uploads them (AWS Batch, Kubernetes).
#pragma once

#include <string>
#include <vector>

namespace trainrun::pipeline {

// What goes to output.uri besides model.tar.gz, in upload order; metrics.json comes last, so
// its presence says the upload is complete. Files the run did not write are skipped.
inline constexpr const char* kUploadedFiles[] = {"evaluation.json", "lineage.json", "metrics.json"};

// Proves before training that output.uri works: list, write a probe object, read it back,
// delete it, with the S3 credential chain (`s3_endpoint` as checkpoint.s3_endpoint). Throws
// ConfigError: "output.uri <uri>: <operation> failed: <error>; <fix>".
void probeOutputUri(const std::string& uri, const std::string& s3_endpoint);

// After a successful run: <uri>/model.tar.gz (tarGzFolder(model_dir): model.pt at its root),
// then each of kUploadedFiles present in `output_dir`. Returns the keys written. Throws
// StorageError (after the storage's retries) naming the object that could not be written.
std::vector<std::string> uploadOutputs(const std::string& uri, const std::string& s3_endpoint,
                                       const std::string& output_dir, const std::string& model_dir);

}  // namespace trainrun::pipeline
