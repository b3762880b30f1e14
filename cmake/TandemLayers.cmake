# Layers the build enforces. Each layer is a static library whose headers are
# reachable only through its own include root: a folder in the build tree
# holding a link to the layer's source folder. A target sees the headers of
# the layers it links (and, transitively, of those below them) and no
# others, so an #include that runs upward fails to compile.
#
#   tdm_layer(<target> PREFIX <prefix> [SOURCES ...] [DEPENDS <layer>...] [LIBS ...])
#
# <prefix> is how files include the layer's headers ("util" for "util/env.h",
# "collectives/host" for "collectives/host/plans.h"); the layer's files live
# in src/<prefix> when that exists, else in <prefix> at the root. SOURCES are
# relative to that folder. Quoted includes are resolved through include
# roots only: never include with "../".

function(tdm_layer target)
  cmake_parse_arguments(L "" "PREFIX" "SOURCES;DEPENDS;LIBS" ${ARGN})
  if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/src/${L_PREFIX})
    set(folder ${PROJECT_SOURCE_DIR}/src/${L_PREFIX})
  else()
    set(folder ${PROJECT_SOURCE_DIR}/${L_PREFIX})
  endif()
  set(root ${PROJECT_BINARY_DIR}/layers/${target})
  get_filename_component(parent ${root}/${L_PREFIX} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(CREATE_LINK ${folder} ${root}/${L_PREFIX} SYMBOLIC)
  if(L_SOURCES)
    list(TRANSFORM L_SOURCES PREPEND ${folder}/)
    add_library(${target} STATIC ${L_SOURCES})
    set(scope PUBLIC)
    target_link_libraries(${target} PRIVATE tandem_warnings)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-O3>
                                             $<$<COMPILE_LANGUAGE:CUDA>:-O3 --expt-relaxed-constexpr>)
  else()
    add_library(${target} INTERFACE)
    set(scope INTERFACE)
  endif()
  target_include_directories(${target} ${scope} $<BUILD_INTERFACE:${root}>)
  target_link_libraries(${target} ${scope} ${L_DEPENDS} ${L_LIBS})
endfunction()
