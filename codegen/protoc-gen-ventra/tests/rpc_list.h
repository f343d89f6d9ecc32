/* The RPC catalogue of notes/decisions (spec/wire.md, RPC catalogue) written
 * out by hand for the tests of generated/rpc/: X(snake, Camel, UPPER, id,
 * public). The generated tables are checked against it, not against
 * themselves. */
#define VT_TEST_RPCS(X)                                                                  \
    X(get_server_info, GetServerInfo, GET_SERVER_INFO, 10, true)                         \
    X(ping, Ping, PING, 11, true)                                                        \
    X(get_challenge, GetChallenge, GET_CHALLENGE, 12, true)                              \
    X(register, Register, REGISTER, 13, true)                                            \
    X(login, Login, LOGIN, 14, true)                                                     \
    X(resume, Resume, RESUME, 15, true)                                                  \
    X(add_device, AddDevice, ADD_DEVICE, 20, false)                                      \
    X(remove_device, RemoveDevice, REMOVE_DEVICE, 21, false)                             \
    X(list_devices, ListDevices, LIST_DEVICES, 22, false)                                \
    X(delete_account, DeleteAccount, DELETE_ACCOUNT, 23, false)                          \
    X(upload_prekeys, UploadPrekeys, UPLOAD_PREKEYS, 30, false)                          \
    X(fetch_bundles, FetchBundles, FETCH_BUNDLES, 31, false)                             \
    X(get_prekey_count, GetPrekeyCount, GET_PREKEY_COUNT, 32, false)                     \
    X(send, Send, SEND, 40, false)                                                       \
    X(ack, Ack, ACK, 41, false)                                                          \
    X(create_group, CreateGroup, CREATE_GROUP, 50, false)                                \
    X(add_group_members, AddGroupMembers, ADD_GROUP_MEMBERS, 51, false)                  \
    X(remove_group_members, RemoveGroupMembers, REMOVE_GROUP_MEMBERS, 52, false)         \
    X(leave_group, LeaveGroup, LEAVE_GROUP, 53, false)                                   \
    X(list_groups, ListGroups, LIST_GROUPS, 54, false)                                   \
    X(get_group, GetGroup, GET_GROUP, 55, false)
