# FindSOCI: Debian's libsoci-dev ships neither a CMake config nor a pkg-config file.
# Provides SOCI::core and, when found, SOCI::postgresql (which carries libpq).
include(FindPackageHandleStandardArgs)

find_path(SOCI_INCLUDE_DIR NAMES soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)
find_library(SOCI_POSTGRESQL_LIBRARY NAMES soci_postgresql)
find_package(PostgreSQL QUIET)

if(SOCI_POSTGRESQL_LIBRARY AND PostgreSQL_FOUND)
  set(SOCI_postgresql_FOUND TRUE)
endif()

find_package_handle_standard_args(
  SOCI
  REQUIRED_VARS SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY
  HANDLE_COMPONENTS)

if(SOCI_FOUND AND NOT TARGET SOCI::core)
  add_library(SOCI::core UNKNOWN IMPORTED)
  set_target_properties(SOCI::core PROPERTIES IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
                                              INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
                                              INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
endif()
if(SOCI_FOUND AND SOCI_postgresql_FOUND AND NOT TARGET SOCI::postgresql)
  add_library(SOCI::postgresql UNKNOWN IMPORTED)
  # soci-postgresql.h includes <libpq-fe.h>, so libpq's include dir travels with it.
  set_target_properties(SOCI::postgresql PROPERTIES
    IMPORTED_LOCATION "${SOCI_POSTGRESQL_LIBRARY}"
    INTERFACE_LINK_LIBRARIES "SOCI::core;PostgreSQL::PostgreSQL")
endif()

mark_as_advanced(SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY SOCI_POSTGRESQL_LIBRARY)
