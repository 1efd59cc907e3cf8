# Our warnings go on our own targets as PRIVATE options; third-party headers are SYSTEM includes.
function(gatehouse_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wnull-dereference -Wimplicit-fallthrough
                                           -Wno-missing-field-initializers)  # partial designated initializers are idiomatic
  if(GATEHOUSE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# gatehouse_area(NAME DIR DEPS...): a static library of every .cpp in src/DIR (tests excluded).
function(gatehouse_area name dir)
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${dir}/*.cpp)
  if(NOT _srcs)  # an area with headers only
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} INTERFACE ${ARGN})
    return()
  endif()
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARGN})
  gatehouse_warnings(${name})
endfunction()
