#include "cli/kubectl/kube_commands.h"

namespace ditto::cli {

void RegisterKubeCommands(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  // In the order `dittoctl --help` lists them.
  RegisterApplyCommand(app, flags, exit_code);
  RegisterGetCommand(app, flags, exit_code);
  RegisterDescribeCommand(app, flags, exit_code);
  RegisterDeleteCommand(app, flags, exit_code);
  RegisterCreateCommand(app, flags, exit_code);
  RegisterPatchCommands(app, flags, exit_code);
  RegisterWaitCommand(app, flags, exit_code);
  RegisterNodeCommands(app, flags, exit_code);
  RegisterCompletionCommand(app, exit_code);
}

}  // namespace ditto::cli
