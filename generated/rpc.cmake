# generated/rpc/: written by protoc-gen-ventra (codegen/protoc-gen-ventra);
# this fragment is hand-written and included by generated/CMakeLists.txt.
# vt_rpc: catalogue, error enum, protobuf-c limit table (codec-agnostic
# except the table's descriptors); vt_rpc_server: dispatch over protobuf-c;
# vt_rpc_client: call stubs over nanopb. Not held to -Werror (STYLE.md).
# Before the first `make generate` there is nothing to build: the
# libraries appear once protoc-gen-ventra has written generated/rpc/.
set(VT_RPC_DIR ${CMAKE_CURRENT_SOURCE_DIR}/rpc)
if(EXISTS ${VT_RPC_DIR}/vt_rpc.c)

add_library(vt_rpc STATIC ${VT_RPC_DIR}/vt_rpc.c ${VT_RPC_DIR}/vt_errors.c
                          ${VT_RPC_DIR}/vt_pbc_limits.c)
target_include_directories(vt_rpc PUBLIC ${VT_RPC_DIR})
target_link_libraries(vt_rpc PUBLIC vt_proto_pbc)

add_library(vt_rpc_server STATIC ${VT_RPC_DIR}/vt_rpc_server.c)
target_link_libraries(vt_rpc_server PUBLIC vt_rpc vt_proto_pbc)

add_library(vt_rpc_client STATIC ${VT_RPC_DIR}/vt_rpc_client.c)
target_link_libraries(vt_rpc_client PUBLIC vt_rpc vt_proto_nanopb)
endif()
