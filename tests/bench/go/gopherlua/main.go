// gopherlua: a benchmark peer of hubfn (tests/bench/consume.sh), the nearest thing to hubfn a
// user could assemble: franz-go consuming, and a Lua handler (gopher-lua) called once per
// batch, a batch being the records of one partition from one poll, at most 100 (hubfn's
// maxEventBatchSize). Each record's value is decoded with encoding/json into a
// map[string]any, which is then converted into Lua tables (objects and arrays become
// tables, numbers, strings and booleans Lua values, null nil). The handler gets an array of
// events { partition, offset, body } and returns the number of realized audiences.
//
//	gopherlua BOOTSTRAP TOPIC GROUP HANDLER.lua
//
// HANDLER.lua returns the handler function (see handler.lua beside this file). Output and
// exit: see package consume. Values that are not JSON objects get a nil body.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	lua "github.com/yuin/gopher-lua"

	"hubfn/bench/go/consume"
)

// toLua converts a value decoded by encoding/json into a Lua value.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, x := range v {
			t.RawSetString(k, toLua(L, x))
		}
		return t
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, x := range v {
			t.RawSetInt(i+1, toLua(L, x))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: gopherlua BOOTSTRAP TOPIC GROUP HANDLER.lua")
		os.Exit(2)
	}
	L := lua.NewState()
	defer L.Close()
	if err := L.DoFile(os.Args[4]); err != nil {
		fmt.Fprintf(os.Stderr, "gopherlua: %v\n", err)
		os.Exit(1)
	}
	handler, ok := L.Get(-1).(*lua.LFunction)
	if !ok {
		fmt.Fprintf(os.Stderr, "gopherlua: %s does not return a function\n", os.Args[4])
		os.Exit(1)
	}
	L.Pop(1)
	notJSON := 0
	consume.Run("gopherlua", func(partition int32, records []*kgo.Record) (int, error) {
		events := L.CreateTable(len(records), 0)
		for i, r := range records {
			ev := L.CreateTable(0, 3)
			ev.RawSetString("partition", lua.LNumber(partition))
			ev.RawSetString("offset", lua.LNumber(r.Offset))
			var body map[string]any
			if err := json.Unmarshal(r.Value, &body); err != nil {
				notJSON++
			} else {
				ev.RawSetString("body", toLua(L, body))
			}
			events.RawSetInt(i+1, ev)
		}
		if err := L.CallByParam(lua.P{Fn: handler, NRet: 1, Protect: true}, events); err != nil {
			return 0, err
		}
		n, ok := L.Get(-1).(lua.LNumber)
		L.Pop(1)
		if !ok {
			return 0, fmt.Errorf("the handler returned no number")
		}
		return int(n), nil
	})
	if notJSON > 0 {
		fmt.Fprintf(os.Stderr, "gopherlua: %d values were not JSON objects\n", notJSON)
	}
}
