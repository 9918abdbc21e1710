# bench_check.cmake - run forkcache-bench; pass if it exits 0 and its output
# matches EXPECT (a regex). No timing is checked.
#   cmake -DBENCH=<forkcache-bench> -DARGS=<;-list> -DEXPECT=<regex> -P bench_check.cmake
if(NOT BENCH OR NOT EXPECT)
  message(FATAL_ERROR "usage: cmake -DBENCH=... -DARGS=... -DEXPECT=... -P bench_check.cmake")
endif()
execute_process(COMMAND ${BENCH} ${ARGS}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 110)
message("${out}")
if(err)
  message("stderr:\n${err}")
endif()
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "forkcache-bench ${ARGS} failed: exit ${rc}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "output does not match: ${EXPECT}")
endif()
message(STATUS "ok: exit 0, output matches ${EXPECT}")
