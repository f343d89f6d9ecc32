# vt_spec: the requirement registry generated from spec/ by vt-reqgen
# (generated/spec/vt_requirements.c) with vt_constants.h from vt-constgen
# beside it, both reached through the PUBLIC include dir generated/spec.
# Written by hand; `make generate` rewrites generated/spec/ only.
set(VT_SPEC_DIR ${CMAKE_CURRENT_LIST_DIR}/spec)
if(EXISTS ${VT_SPEC_DIR}/vt_requirements.c)
  add_library(vt_spec STATIC ${VT_SPEC_DIR}/vt_requirements.c)
  target_include_directories(vt_spec PUBLIC ${VT_SPEC_DIR})
elseif(EXISTS ${VT_SPEC_DIR}/vt_constants.h)
  # Constants without a registry (vt-reqgen has not run): headers only.
  add_library(vt_spec INTERFACE)
  target_include_directories(vt_spec INTERFACE ${VT_SPEC_DIR})
endif()
