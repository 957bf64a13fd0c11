# cmake -D INPUT=… -D OUTPUT=… -D FUNCTION=… -D HEADER=… -P embed_text.cmake
# Writes a .cpp defining std::string_view camreg::http::detail::FUNCTION() as INPUT's text.
file(READ ${INPUT} text)
if(text MATCHES "\\)camreg_text\"")
  message(FATAL_ERROR "${INPUT}: holds the raw string delimiter )camreg_text\"")
endif()
file(WRITE ${OUTPUT}.tmp "// Generated from ${INPUT}; do not edit.
#include \"${HEADER}\"

namespace camreg::http::detail {

std::string_view ${FUNCTION}() {
  static constexpr std::string_view text = R\"camreg_text(${text})camreg_text\";
  return text;
}

} // namespace camreg::http::detail
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
