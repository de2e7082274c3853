# engine/layers.cmake: the layer rule (docs/architecture.md), run as
#   cmake -DROOT=<source tree> -P engine/layers.cmake
# on every build and by ctest. Each folder below has a rank; a file may
# include a project header only from its own folder or from a folder of a
# lower rank. Folders of equal rank (ingest, message, net) are peers and
# include none of each other (so are campaign, feedback and webhook). Fails, naming
# each offending line, otherwise prints nothing.
#
# Layers, lowest first (a folder's subfolders belong to it: store/sqlite/):
set(EDM_LAYERS
  "engine/base:0"
  "templates:1"
  "engine/config:2"
  "engine/store:3"
  "engine/ingest:4" "engine/message:4" "engine/net:4"
  "engine/smtp:5"
  "engine/delivery:6"
  "engine/campaign:7" "engine/feedback:7" "engine/webhook:7"
  "engine/engine:8"
  "api:9"
  "engine/cmd:10")

if(NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DROOT=<source tree> -P layers.cmake")
endif()

# The layer of a path (relative to ROOT): sets <out>_name and <out>_rank,
# or leaves them empty for paths outside the layered tree (tests/, build).
function(edm_layer_of path out)
  set(name "")
  set(rank "")
  set(best 0)
  foreach(entry ${EDM_LAYERS})
    string(REPLACE ":" ";" kv "${entry}")
    list(GET kv 0 dir)
    list(GET kv 1 r)
    string(LENGTH "${dir}" len)
    # engine/engine.c and engine/engine.h form the layer "engine/engine".
    if(path MATCHES "^${dir}(/|\\.[ch]$)" AND len GREATER best)
      set(name "${dir}")
      set(rank "${r}")
      set(best ${len})
    endif()
  endforeach()
  set(${out}_name "${name}" PARENT_SCOPE)
  set(${out}_rank "${rank}" PARENT_SCOPE)
endfunction()

file(GLOB_RECURSE files RELATIVE ${ROOT} ${ROOT}/engine/*.c ${ROOT}/engine/*.h
     ${ROOT}/api/*.c ${ROOT}/api/*.h ${ROOT}/templates/*.c ${ROOT}/templates/*.h)
set(bad "")
foreach(f ${files})
  edm_layer_of("${f}" from)
  if(from_name STREQUAL "")
    string(APPEND bad "\n  ${f}: not in any layer (add its folder to engine/layers.cmake)")
    continue()
  endif()
  file(STRINGS ${ROOT}/${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line ${lines})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" inc "${line}")
    edm_layer_of("${inc}" to)
    if(to_name STREQUAL "" OR to_name STREQUAL from_name)
      continue()
    endif()
    if(to_rank GREATER_EQUAL from_rank)
      string(APPEND bad "\n  ${f}: includes ${inc} (${to_name} is not below ${from_name})")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "layer rule broken (docs/architecture.md):${bad}")
endif()
