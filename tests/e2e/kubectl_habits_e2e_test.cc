// dittoctl as a kubectl user types it: flag syntax (-n X, -n=X, -nX,
// --namespace=X; the same for -o and -l), the verbs and flags kubectl has
// (patch, delete --all/-l/--ignore-not-found, --dry-run, -o jsonpath,
// custom-columns, --sort-by, -w, wait --for=jsonpath, completion), the
// namespace cascade, unmount of a directory dittoctl did not create, Pods in
// manifests, and the pool commands naming volumes as get shows them. Each
// test runs the built dittoctl with argv exactly as a shell passes it and
// checks output and exit codes, error paths included.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "support/require_root.h"
#include "support/temp_dir.h"

namespace ditto {
namespace {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

bool Exists(const std::string& path) {
  struct stat info;
  return ::lstat(path.c_str(), &info) == 0;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One state directory for the suite (pool creation is the slow part); each
// test works in its own namespace.
test::TempDir* suite_dir = nullptr;

class KubectlHabitsTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    delete suite_dir;  // unmounts and detaches everything below it
    suite_dir = nullptr;
  }

  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    if (suite_dir == nullptr) suite_dir = new test::TempDir("dittoctl-habits");
    state_ = suite_dir->Join("state");
    ns_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : ns_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ns_ = ns_.substr(0, 40);
    files_ = suite_dir->Join("files-" + ns_);
    mkdir(files_.c_str(), 0755);
    Result created = Ctl({"create", "namespace", ns_});
    ASSERT_EQ(created.code, 0) << created.err;
  }

  void TearDown() override {
    for (const std::string& path : mounted_) Ctl({"unmount", path});
  }

  // dittoctl --state STATE --pool-size 4Gi ARGS...
  Result Ctl(const std::vector<std::string>& args, const std::string& state = "") {
    std::vector<std::string> argv = {DITTOCTL_PATH, "--state", state.empty() ? state_ : state,
                                     "--pool-size", "4Gi"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = host_.Run(argv);
    Result r;
    if (!result.ok()) {
      r.err = std::string(result.status().message());
      return r;
    }
    r.code = result->exit_code;
    r.out = result->stdout_text;
    r.err = result->stderr_text;
    return r;
  }

  // Writes `yaml` (NS replaced by the test's namespace) to FILE and returns its path.
  std::string File(const std::string& name, const std::string& yaml) {
    std::string text = yaml;
    for (size_t at = text.find("NS"); at != std::string::npos; at = text.find("NS", at)) {
      text.replace(at, 2, ns_);
    }
    std::string path = files_ + "/" + name;
    WriteFile(path, text);
    return path;
  }

  std::string Pvc(const std::string& name, const std::string& size,
                  const std::string& labels = "") {
    return fmt::format(R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {}
  namespace: NS
{}spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: {}
)",
                       name, labels.empty() ? "" : "  labels: {" + labels + "}\n", size);
  }

  void ApplyPvc(const std::string& name, const std::string& size, const std::string& labels = "") {
    Result r = Ctl({"apply", "-f", File(name + ".yaml", Pvc(name, size, labels))});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  std::string Mount(const std::string& claim, const std::string& path) {
    Result r = Ctl({"mount", "pvc/" + claim, path, "-n", ns_});
    EXPECT_EQ(r.code, 0) << r.err;
    mounted_.push_back(path);
    return path;
  }

  host::LinuxHost host_;
  std::string state_;
  std::string ns_;
  std::string files_;
  std::vector<std::string> mounted_;
};

TEST_F(KubectlHabitsTest, NamespaceAndOutputFlagsParseAsKubectlDoes) {
  ApplyPvc("data", "64Mi");
  const std::string expected = "persistentvolumeclaim/data\n";
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{{"get", "pvc", "-n", ns_, "-o", "name"},
                                             {"get", "pvc", "-n=" + ns_, "-o=name"},
                                             {"get", "pvc", "-n" + ns_, "-oname"},
                                             {"get", "pvc", "--namespace=" + ns_, "--output=name"},
                                             {"get", "pvc", "--namespace", ns_, "--output", "name"}}) {
    Result r = Ctl(argv);
    EXPECT_EQ(r.code, 0) << fmt::format("{}", fmt::join(argv, " ")) << r.err;
    EXPECT_EQ(r.out, expected) << fmt::format("{}", fmt::join(argv, " "));
  }
  // -l the same way.
  ApplyPvc("web", "64Mi", "app: web");
  for (const std::string& flag : {std::string("-l=app=web"), std::string("-lapp=web")}) {
    Result r = Ctl({"get", "pvc", "-n", ns_, flag, "-o", "name"});
    EXPECT_EQ(r.code, 0) << flag << r.err;
    EXPECT_EQ(r.out, "persistentvolumeclaim/web\n") << flag;
  }
  // A namespace that does not exist lists nothing, and says which.
  Result none = Ctl({"get", "pvc", "-n=nowhere"});
  EXPECT_EQ(none.code, 0);
  EXPECT_EQ(none.err, "No resources found in nowhere namespace.\n");
}

TEST_F(KubectlHabitsTest, UnknownVerbIsNamedWithTheAlternative) {
  Result unknown = Ctl({"frobnicate", "pvc"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_TRUE(Contains(unknown.err, "unknown command \"frobnicate\" for \"dittoctl\"")) << unknown.err;
  EXPECT_FALSE(Contains(unknown.err, "A subcommand is required")) << unknown.err;
  Result typo = Ctl({"gte", "pvc"});
  EXPECT_EQ(typo.code, 1);
  EXPECT_TRUE(Contains(typo.err, "Did you mean this?\n\tget")) << typo.err;
  Result logs = Ctl({"logs", "web"});
  EXPECT_EQ(logs.code, 1);
  EXPECT_TRUE(Contains(logs.err, "dittoctl runs no pods")) << logs.err;
  Result edit = Ctl({"edit", "pvc", "data"});
  EXPECT_EQ(edit.code, 1);
  EXPECT_TRUE(Contains(edit.err, "dittoctl patch")) << edit.err;
}

TEST_F(KubectlHabitsTest, DeletingANamespaceDeletesWhatIsInItThroughFinalizers) {
  ApplyPvc("data", "64Mi");
  ApplyPvc("spare", "64Mi");
  Result snap = Ctl({"apply", "-f", File("vs.yaml", R"(apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: snap
  namespace: NS
spec:
  source:
    persistentVolumeClaimName: spare
)")});
  ASSERT_EQ(snap.code, 0) << snap.err;
  std::string mnt = Mount("data", files_ + "/mnt");
  Result deleted = Ctl({"delete", "ns", ns_});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, fmt::format("namespace \"{}\" deleted\n", ns_));
  EXPECT_TRUE(Contains(deleted.err, "is Terminating: waiting for the objects in it to be deleted: "
                                    "persistentvolumeclaim/data ("))
      << deleted.err;
  EXPECT_TRUE(Contains(deleted.err, "in use: mounted at " + mnt)) << deleted.err;
  // Terminating until the mounted claim lets go; the rest is gone already.
  Result ns = Ctl({"get", "ns", ns_, "--no-headers"});
  EXPECT_TRUE(Contains(ns.out, "Terminating")) << ns.out;
  Result claims = Ctl({"get", "pvc,vs", "-n", ns_, "-o", "name"});
  EXPECT_EQ(claims.out, "persistentvolumeclaim/data\n") << claims.out << claims.err;
  Result refused = Ctl({"apply", "-f", File("late.yaml", Pvc("late", "64Mi"))});
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(Contains(refused.err, "because it is being terminated")) << refused.err;
  ASSERT_EQ(Ctl({"unmount", mnt}).code, 0);
  mounted_.clear();
  Result gone = Ctl({"get", "ns", ns_});
  EXPECT_EQ(gone.code, 1);
  EXPECT_EQ(gone.err, fmt::format("Error from server (NotFound): namespaces \"{}\" not found\n", ns_));
  EXPECT_EQ(Ctl({"get", "pvc", "-A", "-o", "name"}).out.find(ns_), std::string::npos);
  Result default_ns = Ctl({"delete", "namespace", "default"});
  EXPECT_EQ(default_ns.code, 1);
  EXPECT_TRUE(Contains(default_ns.err, "this namespace may not be deleted")) << default_ns.err;
  EXPECT_EQ(Ctl({"get", "ns", "default", "-o", "name"}).out, "namespace/default\n");
}

TEST_F(KubectlHabitsTest, UnmountLeavesADirectoryItDidNotCreate) {
  ApplyPvc("data", "64Mi");
  // A mount point that already holds files, as /mnt/data often does.
  std::string dir = files_ + "/existing";
  ASSERT_EQ(mkdir(dir.c_str(), 0711), 0);
  WriteFile(dir + "/keep.txt", "mine\n");
  Mount("data", dir);
  EXPECT_FALSE(Exists(dir + "/keep.txt"));  // hidden under the mount
  Result unmounted = Ctl({"unmount", dir});
  EXPECT_EQ(unmounted.code, 0) << unmounted.err;
  EXPECT_EQ(unmounted.out, dir + " unmounted\n");
  mounted_.clear();
  EXPECT_EQ(ReadAll(dir + "/keep.txt"), "mine\n");
  EXPECT_FALSE(Contains(Ctl({"describe", "pvc", "data", "-n", ns_}).out, dir));
  // An empty directory that was there stays, with its mode.
  std::string empty = files_ + "/empty";
  ASSERT_EQ(mkdir(empty.c_str(), 0711), 0);
  Mount("data", empty);
  ASSERT_EQ(Ctl({"unmount", empty}).code, 0);
  mounted_.clear();
  struct stat info;
  ASSERT_EQ(stat(empty.c_str(), &info), 0) << empty << " was removed";
  EXPECT_EQ(info.st_mode & 0777, 0711u);
  // One dittoctl made is removed again.
  std::string made = files_ + "/made";
  Mount("data", made);
  ASSERT_EQ(Ctl({"unmount", made}).code, 0);
  mounted_.clear();
  EXPECT_FALSE(Exists(made));
  // Deleting the claim is not held by a stale mount record.
  Result deleted = Ctl({"delete", "pvc", "data", "-n", ns_});
  EXPECT_EQ(deleted.code, 0);
  EXPECT_EQ(deleted.err, "");
}

TEST_F(KubectlHabitsTest, UnmountAcceptsTheClaim) {
  ApplyPvc("data", "64Mi");
  std::string a = Mount("data", files_ + "/a");
  Result r = Ctl({"unmount", "pvc/data", "-n", ns_});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, a + " unmounted\n");
  mounted_.clear();
  Result again = Ctl({"unmount", "pvc/data", "-n", ns_});
  EXPECT_EQ(again.code, 1);
  EXPECT_TRUE(Contains(again.err, "is not mounted by dittoctl on this machine")) << again.err;
}

TEST_F(KubectlHabitsTest, PodInAManifestIsSkippedWithANoteAndTheRestApplied) {
  std::string path = File("app.yaml", Pvc("data", "64Mi") + R"(---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: NS
spec:
  containers:
  - name: web
    image: nginx
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: data
)");
  Result r = Ctl({"apply", "-f", path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "persistentvolumeclaim/data created\npod/web skipped\n");
  EXPECT_TRUE(Contains(r.err, "pod/web not run: dittoctl runs no pods")) << r.err;
  EXPECT_TRUE(Contains(r.err, fmt::format("dittoctl mount pvc/data PATH -n {}", ns_))) << r.err;
  EXPECT_EQ(Ctl({"get", "pvc", "data", "-n", ns_, "-o", "name"}).code, 0);
}

TEST_F(KubectlHabitsTest, PatchExpandsAClaimAndRefusesWhatItCannotDo) {
  ApplyPvc("data", "64Mi");
  Result merge = Ctl({"patch", "pvc", "data", "-n", ns_, "-p",
                      R"({"spec":{"resources":{"requests":{"storage":"128Mi"}}}})"});
  EXPECT_EQ(merge.code, 0) << merge.err;
  EXPECT_EQ(merge.out, "persistentvolumeclaim/data patched\n");
  std::string pv = Ctl({"get", "pvc", "data", "-n", ns_, "-o", "jsonpath={.spec.volumeName}"}).out;
  Result size = Ctl({"get", "pv", "-o",
                     "jsonpath={.items[?(@.metadata.name==\"" + pv + "\")].spec.capacity.storage}"});
  EXPECT_EQ(size.out, "128Mi") << size.err;
  Result json = Ctl({"patch", "pvc/data", "-n", ns_, "--type=json", "-p",
                     R"([{"op":"add","path":"/metadata/labels","value":{"tier":"db"}}])"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(Ctl({"get", "pvc", "-n", ns_, "-l", "tier=db", "-o", "name"}).out,
            "persistentvolumeclaim/data\n");
  Result same = Ctl({"patch", "pvc", "data", "-n", ns_, "--type", "merge", "-p",
                     R"({"metadata":{"labels":{"tier":"db"}}})"});
  EXPECT_EQ(same.out, "persistentvolumeclaim/data patched (no change)\n");
  Result shrink = Ctl({"patch", "pvc", "data", "-n", ns_, "-p",
                       R"({"spec":{"resources":{"requests":{"storage":"32Mi"}}}})"});
  EXPECT_EQ(shrink.code, 1);
  EXPECT_TRUE(Contains(shrink.err, "can not be less than previous value")) << shrink.err;
  Result crd = Ctl({"patch", "vs", "x", "-n", ns_, "-p", "{}"});
  EXPECT_EQ(crd.code, 1);
  EXPECT_TRUE(Contains(crd.err, "use --type=merge")) << crd.err;
  Result missing = Ctl({"patch", "pvc", "nope", "-n", ns_, "-p", "{}"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, "Error from server (NotFound): persistentvolumeclaims \"nope\" not found\n");
  Result bad = Ctl({"patch", "pvc", "data", "-n", ns_, "--type=json", "-p", R"({"op":"add"})"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(Contains(bad.err, "list of operations")) << bad.err;
}

TEST_F(KubectlHabitsTest, DeleteBySelectorAllAndIgnoreNotFound) {
  ApplyPvc("web-1", "64Mi", "app: web");
  ApplyPvc("web-2", "64Mi", "app: web");
  ApplyPvc("db", "64Mi", "app: db");
  Result no_name = Ctl({"delete", "pvc", "-n", ns_});
  EXPECT_EQ(no_name.code, 1);
  EXPECT_TRUE(Contains(no_name.err, "use --all or -l")) << no_name.err;
  Result by_label = Ctl({"delete", "pvc", "-n", ns_, "-l", "app=web"});
  EXPECT_EQ(by_label.code, 0) << by_label.err;
  EXPECT_EQ(by_label.out,
            "persistentvolumeclaim \"web-1\" deleted\npersistentvolumeclaim \"web-2\" deleted\n");
  Result missing = Ctl({"delete", "pvc", "web-1", "-n", ns_});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err,
            "Error from server (NotFound): persistentvolumeclaims \"web-1\" not found\n");
  Result ignored = Ctl({"delete", "pvc", "web-1", "-n", ns_, "--ignore-not-found"});
  EXPECT_EQ(ignored.code, 0);
  EXPECT_EQ(ignored.out + ignored.err, "");
  Result all = Ctl({"delete", "pvc", "--all", "-n", ns_});
  EXPECT_EQ(all.code, 0);
  EXPECT_EQ(all.out, "persistentvolumeclaim \"db\" deleted\n");
  Result empty = Ctl({"delete", "pvc", "--all", "-n", ns_});
  EXPECT_EQ(empty.code, 0);
  EXPECT_EQ(empty.err, fmt::format("No resources found in {} namespace.\n", ns_));
}

TEST_F(KubectlHabitsTest, DryRunChecksAndStoresNothing) {
  std::string path = File("data.yaml", Pvc("data", "64Mi"));
  Result client = Ctl({"apply", "-f", path, "--dry-run=client"});
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "persistentvolumeclaim/data created (dry run)\n");
  EXPECT_EQ(Ctl({"get", "pvc", "data", "-n", ns_}).code, 1);
  Result invalid = Ctl({"apply", "-f", File("bad.yaml", Pvc("data", "lots")), "--dry-run=server"});
  EXPECT_EQ(invalid.code, 1);
  EXPECT_TRUE(Contains(invalid.err, "bad.yaml:")) << invalid.err;
  ASSERT_EQ(Ctl({"apply", "-f", path}).code, 0);
  Result del = Ctl({"delete", "pvc", "data", "-n", ns_, "--dry-run=server"});
  EXPECT_EQ(del.code, 0);
  EXPECT_EQ(del.out, "persistentvolumeclaim \"data\" deleted (server dry run)\n");
  EXPECT_EQ(Ctl({"get", "pvc", "data", "-n", ns_, "-o", "name"}).out, "persistentvolumeclaim/data\n");
  Result patch = Ctl({"patch", "pvc", "data", "-n", ns_, "--dry-run=client", "-p",
                      R"({"metadata":{"labels":{"a":"b"}}})"});
  EXPECT_EQ(patch.out, "persistentvolumeclaim/data patched (dry run)\n");
  EXPECT_EQ(Ctl({"get", "pvc", "-n", ns_, "-l", "a=b", "-o", "name"}).out, "");
  Result wrong = Ctl({"apply", "-f", path, "--dry-run=maybe"});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_TRUE(Contains(wrong.err, "Invalid dry-run value (maybe)")) << wrong.err;
}

TEST_F(KubectlHabitsTest, JsonPathCustomColumnsSortByAndSelectors) {
  ApplyPvc("b-small", "64Mi", "tier: cache");
  ApplyPvc("a-large", "256Mi", "tier: db");
  ApplyPvc("c-mid", "128Mi", "legacy: 'yes'");
  Result names = Ctl({"get", "pvc", "-n", ns_, "-o", "jsonpath={.items[*].metadata.name}"});
  EXPECT_EQ(names.code, 0) << names.err;
  EXPECT_EQ(names.out, "a-large b-small c-mid");
  Result range = Ctl({"get", "pvc", "-n", ns_, "-o",
                      R"(jsonpath={range .items[?(@.metadata.labels.tier)]}{.metadata.name}={.status.phase}{"\n"}{end})"});
  EXPECT_EQ(range.out, "a-large=Bound\nb-small=Bound\n") << range.err;
  Result one = Ctl({"get", "pvc", "c-mid", "-n", ns_, "-o=jsonpath={.spec.resources.requests.storage}"});
  EXPECT_EQ(one.out, "128Mi");
  Result columns = Ctl({"get", "pvc", "-n", ns_, "--sort-by=.spec.resources.requests.storage", "-o",
                        "custom-columns=NAME:.metadata.name,SIZE:.spec.resources.requests.storage,"
                        "TIER:.metadata.labels.tier"});
  EXPECT_EQ(columns.code, 0) << columns.err;
  EXPECT_EQ(columns.out,
            "NAME      SIZE    TIER\n"
            "b-small   64Mi    cache\n"
            "c-mid     128Mi   <none>\n"
            "a-large   256Mi   db\n");
  Result set = Ctl({"get", "pvc", "-n", ns_, "-l", "tier in (db,cache)", "-o", "name"});
  EXPECT_EQ(set.out, "persistentvolumeclaim/a-large\npersistentvolumeclaim/b-small\n");
  Result absent = Ctl({"get", "pvc", "-n", ns_, "-l", "!legacy,tier notin (db)", "-o", "name"});
  EXPECT_EQ(absent.out, "persistentvolumeclaim/b-small\n");
  Result bad_selector = Ctl({"get", "pvc", "-n", ns_, "-l", "tier in db"});
  EXPECT_EQ(bad_selector.code, 1);
  EXPECT_TRUE(Contains(bad_selector.err, "unable to parse requirement")) << bad_selector.err;
  Result bad_template = Ctl({"get", "pvc", "-n", ns_, "-o", "jsonpath={.items[*"});
  EXPECT_EQ(bad_template.code, 1);
  EXPECT_TRUE(Contains(bad_template.err, "error parsing jsonpath")) << bad_template.err;
  Result bad_columns = Ctl({"get", "pvc", "-n", ns_, "-o", "custom-columns=NAME"});
  EXPECT_EQ(bad_columns.code, 1);
  EXPECT_TRUE(Contains(bad_columns.err, "expected <header>:<json-path-expr>")) << bad_columns.err;
  Result format = Ctl({"get", "pvc", "-n", ns_, "-o", "go-template"});
  EXPECT_EQ(format.code, 1);
  EXPECT_TRUE(Contains(format.err, "allowed formats are")) << format.err;
}

TEST_F(KubectlHabitsTest, WaitForJsonPathAndTheLastWarningOnTimeout) {
  ApplyPvc("data", "64Mi");
  Result met = Ctl({"wait", "pvc/data", "--for=jsonpath={.status.phase}=Bound", "-n", ns_,
                    "--timeout=10s"});
  EXPECT_EQ(met.code, 0) << met.err;
  EXPECT_EQ(met.out, "persistentvolumeclaim/data condition met\n");
  Result exists = Ctl({"wait", "pvc", "data", "--for=jsonpath={.spec.volumeName}", "-n", ns_});
  EXPECT_EQ(exists.code, 0) << exists.err;
  // A clone of a claim that does not exist stays Pending.
  Result clone = Ctl({"apply", "-f", File("clone.yaml", Pvc("clone", "64Mi") +
                                                           "  dataSource:\n    kind: "
                                                           "PersistentVolumeClaim\n    name: nope\n")});
  ASSERT_EQ(clone.code, 0) << clone.err;
  Result timeout = Ctl({"wait", "pvc/clone", "--for=jsonpath={.status.phase}=Bound", "-n", ns_,
                        "--timeout=1s"});
  EXPECT_EQ(timeout.code, 1);
  EXPECT_TRUE(Contains(timeout.err, "timed out waiting for the condition on "
                                    "persistentvolumeclaims/clone; last warning: ProvisioningFailed"))
      << timeout.err;
  EXPECT_TRUE(Contains(timeout.err, "\"nope\" not found")) << timeout.err;
  Result bad = Ctl({"wait", "pvc/data", "--for=jsonpath={.status.phase", "-n", ns_});
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(Contains(bad.err, "no closing }")) << bad.err;
}

TEST_F(KubectlHabitsTest, WatchPrintsTheTableThenStopsAtTheRequestTimeout) {
  ApplyPvc("data", "64Mi");
  Result watched = Ctl({"get", "pvc", "-n", ns_, "-w", "--request-timeout=2s"});
  EXPECT_EQ(watched.code, 0) << watched.err;
  EXPECT_TRUE(watched.out.rfind("NAME   STATUS", 0) == 0) << watched.out;
  EXPECT_TRUE(Contains(watched.out, "data   Bound")) << watched.out;
  // A claim made while watching shows up as a row.
  Result changes;
  std::thread watcher(
      [&] { changes = Ctl({"get", "pvc", "-n", ns_, "--watch-only", "--request-timeout=5s"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ApplyPvc("later", "64Mi");
  watcher.join();
  EXPECT_EQ(changes.code, 0) << changes.err;
  EXPECT_TRUE(Contains(changes.out, "later")) << changes.out;
  EXPECT_FALSE(Contains(changes.out, "NAME")) << changes.out;
  Result refused = Ctl({"get", "pvc", "-n", ns_, "-w", "-o", "json"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(Contains(refused.err, "-w prints each change")) << refused.err;
}

TEST_F(KubectlHabitsTest, CompletionForBash) {
  Result bash = Ctl({"completion", "bash"});
  EXPECT_EQ(bash.code, 0);
  EXPECT_TRUE(Contains(bash.out, "complete -o default -F _dittoctl dittoctl")) << bash.out;
  EXPECT_TRUE(Contains(bash.out, " patch")) << bash.out;
  EXPECT_TRUE(Contains(bash.out, "--ignore-not-found")) << bash.out;
  auto syntax = host_.Run({"/bin/bash", "-n", "-c", bash.out});
  ASSERT_TRUE(syntax.ok());
  EXPECT_EQ(syntax->exit_code, 0) << syntax->stderr_text;
  Result zsh = Ctl({"completion", "zsh"});
  EXPECT_EQ(zsh.code, 1);
  EXPECT_TRUE(Contains(zsh.err, "dittoctl completion bash")) << zsh.err;
}

TEST_F(KubectlHabitsTest, ReadOnlyCommandsCreateNothing) {
  std::string fresh = files_ + "/fresh-state";
  Result get = Ctl({"get", "pvc"}, fresh);
  EXPECT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.err, "No resources found in default namespace.\n");
  Result describe = Ctl({"describe", "pvc", "x"}, fresh);
  EXPECT_EQ(describe.code, 1);
  Result list = Ctl({"volume", "list"}, fresh);
  EXPECT_EQ(list.code, 1);
  EXPECT_TRUE(Contains(list.err, "no pool at " + fresh + "/pool")) << list.err;
  Result status = Ctl({"pool", "status"}, fresh);
  EXPECT_EQ(status.code, 1);
  EXPECT_FALSE(Exists(fresh)) << "a read-only command created " << fresh;
}

TEST_F(KubectlHabitsTest, PoolCommandsNameVolumesAsGetShowsThem) {
  ApplyPvc("data", "64Mi");
  std::string pv = Ctl({"get", "pvc", "data", "-n", ns_, "-o", "jsonpath={.spec.volumeName}"}).out;
  ASSERT_FALSE(pv.empty());
  std::string id = Ctl({"get", "pv", pv, "-o", "jsonpath={.spec.csi.volumeHandle}"}).out;
  ASSERT_FALSE(id.empty());
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"volume", "show", id}, {"volume", "show", pv}, {"volume", "show", "pvc/data", "-n", ns_}}) {
    Result shown = Ctl(argv);
    EXPECT_EQ(shown.code, 0) << fmt::format("{}", fmt::join(argv, " ")) << shown.err;
    EXPECT_TRUE(Contains(shown.out, "ID:         " + id)) << shown.out;
    EXPECT_TRUE(Contains(shown.out, fmt::format("Used by:    PersistentVolume {} (claim {}/data)",
                                                pv, ns_)))
        << shown.out;
  }
  // A clone shares blocks with its source, and volume show says with which.
  std::string mnt = Mount("data", files_ + "/mnt");
  WriteFile(mnt + "/blob", std::string(1 << 20, 'x'));
  sync();
  Result clone = Ctl({"apply", "-f", File("clone.yaml", Pvc("clone", "64Mi") +
                                                           "  dataSource:\n    kind: "
                                                           "PersistentVolumeClaim\n    name: data\n")});
  ASSERT_EQ(clone.code, 0) << clone.err;
  Result shared = Ctl({"volume", "show", "pvc/clone", "-n", ns_});
  EXPECT_TRUE(Contains(shared.out, "Shares with: " + id)) << shared.out;
  Result status = Ctl({"pool", "status"});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_TRUE(Contains(status.out, "Saved:")) << status.out;
  EXPECT_TRUE(Contains(status.out, "Provisioned:")) << status.out;
  EXPECT_FALSE(Contains(status.out, "Shared:")) << status.out;
  Result list = Ctl({"volume", "list"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_TRUE(Contains(list.out, id)) << list.out;
  // The columns line up: each line's second column starts where NAME does.
  std::istringstream lines(list.out);
  std::string line;
  size_t column = std::string::npos;
  while (std::getline(lines, line)) {
    size_t gap = line.find("  ");
    size_t second = line.find_first_not_of(' ', gap);
    if (column == std::string::npos) column = second;
    EXPECT_EQ(second, column) << list.out;
  }
  // Deleting the volume under a Bound claim is refused, naming both.
  Result refused = Ctl({"volume", "delete", id});
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(Contains(refused.err, fmt::format("backs PersistentVolume {} (claim {}/data)", pv, ns_)))
      << refused.err;
  EXPECT_TRUE(Contains(refused.err, "--force")) << refused.err;
  EXPECT_EQ(Ctl({"volume", "show", id}).code, 0);
}

TEST_F(KubectlHabitsTest, DefaultSnapshotClassIsNamedAndShown) {
  ApplyPvc("data", "64Mi");
  Result classes = Ctl({"get", "vsclass", "-o", "name"});
  EXPECT_TRUE(Contains(classes.out, "volumesnapshotclass.snapshot.storage.k8s.io/ditto\n"))
      << classes.out;
  Result snap = Ctl({"apply", "-f", File("vs.yaml", R"(apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: snap
  namespace: NS
spec:
  source:
    persistentVolumeClaimName: data
)")});
  ASSERT_EQ(snap.code, 0) << snap.err;
  Result vs = Ctl({"get", "vs", "snap", "-n", ns_, "-o", "custom-columns=CLASS:.spec.volumeSnapshotClassName"});
  EXPECT_EQ(vs.out, "CLASS\nditto\n") << vs.err;
  // The file as written applies again unchanged.
  Result again = Ctl({"apply", "-f", files_ + "/vs.yaml"});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out, "volumesnapshot.snapshot.storage.k8s.io/snap unchanged\n");
}

TEST_F(KubectlHabitsTest, CloneOfAClaimInAnotherNamespaceSaysWhereItIs) {
  std::string other = ns_ + "-src";
  ASSERT_EQ(Ctl({"create", "namespace", other}).code, 0);
  std::string source = Pvc("src", "64Mi");
  source.replace(source.find("namespace: NS"), 13, "namespace: " + other);
  ASSERT_EQ(Ctl({"apply", "-f", File("src.yaml", source)}).code, 0);
  Result clone = Ctl({"apply", "-f", File("clone.yaml", Pvc("clone", "64Mi") +
                                                           "  dataSource:\n    kind: "
                                                           "PersistentVolumeClaim\n    name: src\n")});
  ASSERT_EQ(clone.code, 0) << clone.err;
  std::string described = Ctl({"describe", "pvc", "clone", "-n", ns_}).out;
  EXPECT_TRUE(Contains(described, "a PVC src exists in namespace " + other + ": create the clone "
                                  "there"))
      << described;
}

TEST_F(KubectlHabitsTest, TabInYamlIsNamed) {
  Result r = Ctl({"apply", "-f", File("tab.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: x\n")});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(Contains(r.err, "line 4 column 1 indents with a tab")) << r.err;
}

}  // namespace
}  // namespace ditto
