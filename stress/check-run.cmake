# check-run.cmake - run forkcache-stress and judge its exit code and summary
# line. cmake -DEXE=<binary> -DEXPECT=pass|caught -DARGS="<options>" -P this
#   pass    exit 0 and "result=PASS" on the summary line
#   caught  exit 1, "result=FAIL", and torn=<n> with n > 0 or verify=fail:
#           the harness caught the broken library
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${EXE} ${args} RESULT_VARIABLE rc
  OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${err}")
message("${out}")
string(REGEX MATCH "stress: seconds=[^\n]*result=[A-Z]+" summary "${out}")
if(NOT summary)
  message(FATAL_ERROR "no summary line (exit ${rc})")
endif()
if(EXPECT STREQUAL "pass")
  if(NOT rc EQUAL 0 OR NOT summary MATCHES "result=PASS$")
    message(FATAL_ERROR "stress run failed (exit ${rc}): ${summary}")
  endif()
elseif(EXPECT STREQUAL "caught")
  if(NOT rc EQUAL 1 OR NOT summary MATCHES "result=FAIL$")
    message(FATAL_ERROR "broken library NOT caught (exit ${rc}): ${summary}")
  endif()
  if(NOT summary MATCHES " torn=[1-9]" AND NOT summary MATCHES " verify=fail")
    message(FATAL_ERROR "broken library failed, but not with torn reads or a failed verify: ${summary}")
  endif()
  message("caught as expected: ${summary}")
else()
  message(FATAL_ERROR "EXPECT must be pass or caught")
endif()
