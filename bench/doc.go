// Package bench holds Runnel's benchmarks. Run them with
//
//	go test -run '^$' -bench . -count 5 ./bench/ | tee new.txt
//
// and compare runs with benchstat. The pipeline benchmarks report rows/s
// (one op is a whole run over a bounded impulse source); the Nexmark
// benchmarks (BenchmarkNexmarkQ0 …) run the queries of bench/nexmark into
// a blackhole sink and report events/s and events/s/core. README.md has
// the latest `runnel bench nexmark` results and how to read them.
package bench
