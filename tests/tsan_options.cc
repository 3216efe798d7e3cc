// Linked into every program of a ThreadSanitizer build (DITTO_TSAN): the
// defaults TSan reads before TSAN_OPTIONS, so that processes the tests start
// with a clean environment (dittoctl through LinuxHost::Run, dittod) use the
// checked-in suppressions (tests/tsan.supp) and stop at the first report,
// exiting 66, like the tests themselves. TSAN_OPTIONS still overrides each.
extern "C" const char* __tsan_default_options() {
  return "suppressions=" DITTO_TSAN_SUPPRESSIONS ":halt_on_error=1:second_deadlock_stack=1";
}
