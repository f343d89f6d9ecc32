# ventra-conform vectors must fail on a wrong vector: copies VECTORS to
# SCRATCH, changes one expected byte of crypto/identity.json tcId 1
# (x25519Private), and expects exit 1 with a FAIL line naming that case
# while its neighbour still passes. Run with cmake -P (conformance/CMakeLists.txt).
file(REMOVE_RECURSE ${SCRATCH})
file(COPY ${VECTORS}/ DESTINATION ${SCRATCH})

set(file ${SCRATCH}/crypto/identity.json)
set(good "\"x25519Private\": \"3894eea49c580aef816935762be049559d6d1440dede12e6a125f1841fff8e6f\"")
set(bad "\"x25519Private\": \"3994eea49c580aef816935762be049559d6d1440dede12e6a125f1841fff8e6f\"")
file(READ ${file} text)
string(FIND "${text}" "${good}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the expected x25519Private of identity tcId 1 is not in ${file}")
endif()
string(REPLACE "${good}" "${bad}" text "${text}")
file(WRITE ${file} "${text}")

execute_process(COMMAND ${CONFORM} vectors ${SCRATCH}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(REMOVE_RECURSE ${SCRATCH})
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "exit ${rc}, want 1\n${out}\n${err}")
endif()
if(NOT out MATCHES "\nFAIL crypto/identity\\.json#1 [^\n]*\n    x25519Private differs")
  message(FATAL_ERROR "no FAIL line for crypto/identity.json#1:\n${out}")
endif()
if(NOT out MATCHES "\nPASS crypto/identity\\.json#2 ")
  message(FATAL_ERROR "the unchanged neighbour did not pass:\n${out}")
endif()
if(NOT out MATCHES "\n[0-9]+ cases: [0-9]+ passed, 1 failed\n")
  message(FATAL_ERROR "the summary does not count exactly one failure:\n${out}")
endif()
message(STATUS "one changed byte: exit 1, FAIL crypto/identity.json#1")
