// franzgo: a benchmark peer of hubfn (tests/bench/consume.sh), the compiled consumer a user
// would write instead of a hubfn function: franz-go, every record's value decoded with
// encoding/json into a map[string]any, every segmentMembership.ups.*.status read, the
// "realized" ones counted. No scripting.
//
//	franzgo BOOTSTRAP TOPIC GROUP
//
// Output and exit: see package consume. Values that are not JSON objects are counted and
// reported on stderr at the end.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"hubfn/bench/go/consume"
)

func main() {
	notJSON := 0
	consume.Run("franzgo", func(_ int32, records []*kgo.Record) (int, error) {
		n := 0
		for _, r := range records {
			var body map[string]any
			if err := json.Unmarshal(r.Value, &body); err != nil {
				notJSON++
				continue
			}
			sm, _ := body["segmentMembership"].(map[string]any)
			ups, _ := sm["ups"].(map[string]any)
			for _, v := range ups {
				aud, _ := v.(map[string]any)
				if status, _ := aud["status"].(string); status == "realized" {
					n++
				}
			}
		}
		return n, nil
	})
	if notJSON > 0 {
		fmt.Fprintf(os.Stderr, "franzgo: %d values were not JSON objects\n", notJSON)
	}
}
