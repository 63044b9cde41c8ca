package store

import "crypto/rand"

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns prefix + "_" + 10 random characters of [0-9A-Za-z], the
// public id format shared with Arroyo (pl_…, job_…, jlm_…, chk_…).
func NewID(prefix string) string {
	var raw [10]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	b := make([]byte, 0, len(prefix)+11)
	b = append(b, prefix...)
	b = append(b, '_')
	for _, r := range raw {
		// 256 % 62 bias is below 2%; ids need uniqueness, not uniformity.
		b = append(b, idAlphabet[int(r)%len(idAlphabet)])
	}
	return string(b)
}
