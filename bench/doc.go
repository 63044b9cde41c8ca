// Package bench holds Runnel's benchmarks. Run them with
//
//	go test -run '^$' -bench . -count 5 ./bench/ | tee new.txt
//
// and compare runs with benchstat. The pipeline benchmarks report rows/s
// (one op is a whole run over a bounded impulse source).
package bench
