package sql

import (
	"strings"
	"testing"
)

func TestScalarFunctions(t *testing.T) {
	path := events(t, [][3]any{{" Hello World ", 7, 3725}})
	q := ddl(path) + `SELECT substr(k, 2, 5) AS s1, substring(k, 8) AS s2, trim(k) AS t, replace(k, 'o', '0') AS r,
  starts_with(trim(k), 'Hell') AS sw, regexp_like(k, 'W.r') AS rl, regexp_match(k, '(\w+)\s*$') AS rm,
  regexp_replace(k, '\s+', '_') AS rr, strpos(k, 'World') AS sp,
  floor(v / 2.0) AS fl, ceil(v / 2.0) AS ce, sqrt(16) AS sq, power(2, 10) AS pw, mod(v, 4) AS md, abs(-v) AS ab,
  round(v / 3.0, 2) AS ro, date_trunc('hour', ts) AS dt, date_part('minute', ts) AS dp, extract(second FROM ts) AS ex,
  to_timestamp(0) AS z, extract_json_string('{"a":{"b":[1,"x"]}}', '$.a.b[1]') AS j1,
  json_get_str('{"a":{"b":"y"}}', 'a', 'b') AS j2, lower(k) AS lo, upper(k) AS up, length(k) AS ln, concat(k, v) AS cc
FROM ev`
	got := runQuery(t, q, 1)
	want := "ab=7 cc= Hello World 7 ce=4 dp=2 dt=2024-01-01T01:00:00Z ex=5 fl=3 j1=x j2=y ln=13 lo= hello world  md=3 pw=1024 r= Hell0 W0rld  rl=true rm=World ro=2.33 rr=_Hello_World_ s1=Hello s2=World  sp=8 sq=4 sw=true t=Hello World up= HELLO WORLD  z=1970-01-01T00:00:00Z"
	if len(got) != 1 || got[0] != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}
