# Every dependency comes from Debian 12 packages (scripts/setup installs them).
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG COMPONENTS json url context)
find_package(OpenSSL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 QUIET)
find_package(prometheus-cpp QUIET)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(LIBDEFLATE REQUIRED IMPORTED_TARGET libdeflate)  # CRC-32 of event lines
pkg_check_modules(HS REQUIRED IMPORTED_TARGET libhs)  # Hyperscan (x86-64) or Vectorscan, its portable fork: masking detectors
# Lasso (SAML 2.0), with the GLib, GObject and libxml2 that saml/ also calls directly.
pkg_check_modules(LASSO REQUIRED IMPORTED_TARGET lasso glib-2.0 gobject-2.0 libxml-2.0)

find_path(PG_QUERY_INCLUDE_DIR pg_query.h REQUIRED)
find_library(PG_QUERY_LIBRARY pg_query REQUIRED)
add_library(gatehouse_pg_query INTERFACE)
target_include_directories(gatehouse_pg_query SYSTEM INTERFACE ${PG_QUERY_INCLUDE_DIR})
target_link_libraries(gatehouse_pg_query INTERFACE ${PG_QUERY_LIBRARY})

if(NOT TARGET prometheus-cpp::core)
  find_library(PROM_CORE_LIBRARY prometheus-cpp-core REQUIRED)
  add_library(prometheus-cpp::core INTERFACE IMPORTED)
  target_link_libraries(prometheus-cpp::core INTERFACE ${PROM_CORE_LIBRARY})
endif()

# Asio and Beast are compiled once (src/gateway/asio_impl.cpp) rather than in every file that includes them.
add_library(gatehouse_asio INTERFACE)
target_compile_definitions(gatehouse_asio INTERFACE BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
                                                    BOOST_ASIO_NO_DEPRECATED)
target_link_libraries(gatehouse_asio INTERFACE Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
find_package(Threads REQUIRED)
