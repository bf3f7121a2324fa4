package bench

import (
	"os"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestMain(m *testing.M) {
	// The NRI adaptation and stub log through logrus' standard logger at
	// info level; their lines would drown the benchmark output.
	logrus.SetLevel(logrus.WarnLevel)
	os.Exit(m.Run())
}
