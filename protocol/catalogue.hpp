// The whole message catalogue: every protocol header, so every message type is complete here.
// Only what must see all messages at once includes it: the codec, the actor-system
// registration and the catalogue's own test. Everything else includes the one protocol header
// it speaks (which brings protocol/type_ids.hpp).
#pragma once

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/controller/controller_protocol.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "actors/picker/picker_protocol.hpp"
#include "actors/picker/replication/replication_protocol.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "actors/probe/probe_protocol.hpp"
#include "actors/router/router_protocol.hpp"
#include "actors/scaler/scaler_protocol.hpp"
#include "gateway/gateway_protocol.hpp"
#include "protocol/type_ids.hpp"
#include "runtime/wire/wire_error.hpp"
