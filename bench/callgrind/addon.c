// Callgrind's client requests for the deterministic bench (issue #17): count instructions around the
// measured calls only. Outside Valgrind each request is a few no-op instructions.
#include <node_api.h>
#include <valgrind/callgrind.h>

static napi_value Instrument(napi_env env, napi_callback_info info) {
  CALLGRIND_START_INSTRUMENTATION;
  return NULL;
}

static napi_value Start(napi_env env, napi_callback_info info) {
  CALLGRIND_ZERO_STATS;
  CALLGRIND_TOGGLE_COLLECT;
  return NULL;
}

static napi_value Stop(napi_env env, napi_callback_info info) {
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_DUMP_STATS_AT("measured");
  return NULL;
}

static napi_value Running(napi_env env, napi_callback_info info) {
  napi_value result;
  napi_get_boolean(env, RUNNING_ON_VALGRIND ? 1 : 0, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"instrument", NULL, Instrument, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, Start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, Stop, NULL, NULL, NULL, napi_default, NULL},
      {"runningOnValgrind", NULL, Running, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 4, properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
