# cmake -D OUTPUT=… -D FILES="a.sql|b.sql" -P embed_migrations.cmake
# Writes a .cpp defining camreg::postgres::migrations() from numbered SQL files.
string(REPLACE "|" ";" FILES "${FILES}")
set(body "")
set(previous 0)
foreach(file IN LISTS FILES)
  get_filename_component(name ${file} NAME)
  if(NOT name MATCHES "^([0-9][0-9][0-9][0-9])_[a-z0-9_]+\\.sql$")
    message(FATAL_ERROR "migration ${name}: expected NNNN_snake_case.sql")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  math(EXPR expected "${previous} + 1")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "migration ${name}: expected version ${expected} next")
  endif()
  set(previous ${version})
  file(READ ${file} sql)
  string(APPEND body "      {${version}, \"${name}\", R\"camreg_sql(${sql})camreg_sql\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "// Generated from migrations/*.sql; do not edit.
#include \"camreg/postgres/postgres.hpp\"

namespace camreg::postgres {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all{
${body}  };
  return all;
}

} // namespace camreg::postgres
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
