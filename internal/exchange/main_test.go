package exchange

import (
	"testing"

	"go.uber.org/goleak"
)

// No stream, credit reader or server goroutine may outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
