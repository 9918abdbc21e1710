# demo_smoke.cmake - run forkcache-demo small and check its summary line.
#   cmake -DDEMO=/path/to/forkcache-demo -P demo_smoke.cmake
# Passes when the demo exits 0 and its "demo: ..." line shows fewer backend
# calls with the shared cache than with per-process caches. No timings.
if(NOT DEMO)
  message(FATAL_ERROR "usage: cmake -DDEMO=<forkcache-demo> -P demo_smoke.cmake")
endif()
set(args --workers 2 --keys 2000 --requests 20000 --backend-us 20
         --value-bytes 256 --segment-bytes 4M --ttl-ms 60000 --seed 7)
message(STATUS "running: ${DEMO} ${args}")
execute_process(COMMAND ${DEMO} ${args}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 50)
message("${out}")
if(err)
  message("stderr:\n${err}")
endif()
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "forkcache-demo failed: exit ${rc}")
endif()
string(REGEX MATCH
  "demo: workers=[0-9]+ requests=[0-9]+ shared_backend_calls=([0-9]+) per_process_backend_calls=([0-9]+) backend_reduction=[0-9.]+x shared_hit_ratio=[0-9.]+ per_process_hit_ratio=[0-9.]+"
  line "${out}")
if(NOT line)
  message(FATAL_ERROR "no summary line in the demo's output")
endif()
set(shared ${CMAKE_MATCH_1})
set(per_process ${CMAKE_MATCH_2})
if(shared EQUAL 0 OR NOT shared LESS per_process)
  message(FATAL_ERROR
    "shared_backend_calls=${shared} is not below per_process_backend_calls=${per_process}")
endif()
message(STATUS "ok: shared ${shared} < per-process ${per_process} backend calls")
