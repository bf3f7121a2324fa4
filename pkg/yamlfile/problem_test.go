package yamlfile

import "testing"

func TestFormat(t *testing.T) {
	got := Format("p.yaml", []Problem{{Path: "spec.mode", Line: 4, Reason: "must be enforce"}, {Reason: "document is empty"}, {Path: "kind", Reason: "want Policy"}})
	want := "p.yaml:4: spec.mode: must be enforce\np.yaml: document is empty\np.yaml: kind: want Policy"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
