// dittoctl completion bash: a bash completion script made from the command
// tree itself (verbs, their flags, resource kinds and object names).
#include <iostream>
#include <set>

#include "cli/kubectl/kube_commands.h"
#include "cli/kubectl/kube_util.h"
#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::cli {
namespace {

std::string Flags(const CLI::App& command) {
  std::set<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& name : option->get_lnames()) names.insert("--" + name);
    for (const std::string& name : option->get_snames()) names.insert("-" + name);
  }
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : " ") + name;
  return out;
}

std::string BashScript(const CLI::App& app) {
  std::string verbs;
  std::string cases;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == "completion") {
      verbs += " completion";
      cases += "    completion) words=\"bash\" ;;\n";
      continue;
    }
    verbs += " " + sub->get_name();
    std::string words = Flags(*sub);
    for (const CLI::App* nested : sub->get_subcommands({})) words += " " + nested->get_name();
    cases += fmt::format("    {}) words=\"{}\" ;;\n", sub->get_name(), words);
  }
  std::string kinds;
  for (const control::KindInfo& kind : control::AllKinds()) {
    kinds += fmt::format(" {} {}", kind.plural, kind.singular);
    for (std::string_view alias : kind.short_names) kinds += fmt::format(" {}", alias);
  }
  return fmt::format(R"(# bash completion for dittoctl. Load it with:
#   source <(dittoctl completion bash)
# or install it: dittoctl completion bash > /etc/bash_completion.d/dittoctl
_dittoctl() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} verb="" kind="" state=() i w words
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${{COMP_WORDS[i]}}
    case "$w" in
      --state) state=(--state "${{COMP_WORDS[i+1]}}"); ((i++)) ;;
      --endpoint|--node-id|--driver-name|--pool-size|-n|--namespace|-o|--output|-l|--selector|-f|--filename|-p|--patch) ((i++)) ;;
      -*) ;;
      *) if [ -z "$verb" ]; then verb=$w; elif [ -z "$kind" ]; then kind=$w; fi ;;
    esac
  done
  if [ -z "$verb" ]; then
    COMPREPLY=($(compgen -W "{verbs} --state --endpoint --node-id --pool-size --help --version" -- "$cur"))
    return
  fi
  case "$verb" in
{cases}    *) words="" ;;
  esac
  if [[ "$cur" != -* ]]; then
    case "$verb" in
      get|describe|delete|patch|wait)
        if [ -z "$kind" ]; then
          words="{kinds}"
        elif [[ "$kind" != */* ]]; then
          words=$(dittoctl "${{state[@]}}" get "$kind" -o name 2>/dev/null | sed 's|.*/||')
        fi ;;
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _dittoctl dittoctl
)",
                     fmt::arg("verbs", verbs), fmt::arg("cases", cases), fmt::arg("kinds", kinds));
}

}  // namespace

void RegisterCompletionCommand(CLI::App& app, int* exit_code) {
  auto* sub = app.add_subcommand("completion", "Print a shell completion script: completion bash");
  auto shell = std::make_shared<std::string>();
  sub->add_option("shell", *shell, "bash")->required();
  CLI::App* root = &app;
  sub->callback([=] {
    if (*shell != "bash") {
      Finish(absl::InvalidArgumentError(fmt::format(
                 "unsupported shell type \"{}\"; dittoctl completes for bash: dittoctl completion "
                 "bash",
                 *shell)),
             exit_code);
      return;
    }
    std::cout << BashScript(*root);
    *exit_code = 0;
  });
}

}  // namespace ditto::cli
