# Every dependency comes from Debian's packages (see ../shared/STACK.md).
# Targets defined here are the only names the rest of the build uses.

find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(PkgConfig REQUIRED)

# CAF 0.17 ships neither a CMake config nor a .pc file: find it by hand.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
foreach(component core io openssl)
  find_library(CAF_${component}_LIBRARY caf_${component} REQUIRED)
  add_library(caf::${component} SHARED IMPORTED)
  set_target_properties(caf::${component} PROPERTIES
    IMPORTED_LOCATION "${CAF_${component}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
endforeach()
set_property(TARGET caf::core APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
set_property(TARGET caf::io APPEND PROPERTY INTERFACE_LINK_LIBRARIES caf::core)
set_property(TARGET caf::openssl APPEND PROPERTY
  INTERFACE_LINK_LIBRARIES caf::io OpenSSL::SSL OpenSSL::Crypto)

# Standalone Asio: header only.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(asio INTERFACE)
target_include_directories(asio SYSTEM INTERFACE "${ASIO_INCLUDE_DIR}")
# ASIO_DISABLE_STD_ALIGNED_ALLOC: Asio picks aligned_alloc/free or
# operator new/delete for its recycled memory by testing a libstdc++ macro
# that is only defined once some standard header has been included; in a
# file that includes Asio first, the choice differs, and the linker keeps
# one of the two inline versions: memory from operator new freed with free()
# (ASan's alloc-dealloc-mismatch, g++'s -Wmismatched-new-delete). One choice
# everywhere.
target_compile_definitions(asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(asio INTERFACE Threads::Threads)

# llhttp: node-llhttp ships the generated C sources; build them here, without
# our warning flags (it is not our code).
set(LLHTTP_SOURCE_DIR /usr/share/llhttp CACHE PATH "llhttp C sources")
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp REQUIRED)
add_library(llhttp STATIC
  ${LLHTTP_SOURCE_DIR}/llhttp.c ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c)
target_include_directories(llhttp SYSTEM PUBLIC "${LLHTTP_INCLUDE_DIR}")
set_target_properties(llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)
# Strict mode: llhttp itself refuses bare CR/LF in framing and other
# leniencies (ika checks these on its own too; two independent checks).
target_compile_definitions(llhttp PRIVATE LLHTTP_STRICT_MODE=1)

find_package(msgpack CONFIG REQUIRED)  # -> msgpackc-cxx
pkg_check_modules(sodium REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(sqlite3 REQUIRED IMPORTED_TARGET sqlite3)
find_package(tomlplusplus CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)

if(IKA_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(IKA_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
