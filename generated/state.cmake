# vt_state: the state machines vt-smgen generates from spec/state/*.md
# (spec/README.md, State machines). Hand-written; the generator never touches
# it. The generated step functions run on the generic runtime of
# lib/src/sm.c (library vt_sm); `ventra` links vt_state.
file(GLOB VT_STATE_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/state/*.c)
if(VT_STATE_SOURCES) # empty only before the first `make generate`
  add_library(vt_state STATIC ${VT_STATE_SOURCES})
  target_include_directories(vt_state PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/state
                                      ${CMAKE_SOURCE_DIR}/lib/include)
  target_link_libraries(vt_state PUBLIC vt_sm)
endif()
