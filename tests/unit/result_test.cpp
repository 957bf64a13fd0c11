#include <catch2/catch.hpp>

#include "camreg/result.hpp"

using namespace camreg;

TEST_CASE("a Result holds a value or an error, never both", "[result]") {
  Result<int> ok = 7;
  CHECK(ok.has_value());
  CHECK(*ok == 7);
  Result<int> bad = fail(ErrorKind::timeout, "page 2 took longer than 10s");
  CHECK_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::timeout);
  CHECK_THROWS_AS(bad.value(), BadResultAccess);
  CHECK_THROWS_WITH(bad.value(), Catch::Contains("page 2"));

  Result<void> done;
  CHECK(done);
  Result<void> failed = fail(ErrorKind::busy, "locked");
  CHECK_FALSE(failed);
  CHECK_THROWS_AS(failed.value(), BadResultAccess);
  CHECK(to_string(ErrorKind::auth) == "auth");
}
