// Command llamaoracle tokenizes with the llama.cpp of Ollama v0.6.5, as its
// runner does, for the fastslow tokenizer tests.
//
// Usage: llamaoracle model.gguf < requests
// Request 'T', addSpecial byte, uint32 length, text: reply uint32 n, n int32 ids.
// Request 'P', int32 id: reply uint32 length, piece bytes (TokenToPiece).
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/ollama/ollama/llama"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: llamaoracle model.gguf")
		os.Exit(2)
	}
	llama.BackendInit()
	m, err := llama.LoadModelFromFile(os.Args[1], llama.ModelParams{VocabOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		op, err := in.ReadByte()
		if err == io.EOF {
			return
		}
		must(err)
		switch op {
		case 'T':
			add, err := in.ReadByte()
			must(err)
			var n uint32
			must(binary.Read(in, binary.LittleEndian, &n))
			text := make([]byte, n)
			_, err = io.ReadFull(in, text)
			must(err)
			ids, err := m.Tokenize(string(text), add == 1, true)
			must(err)
			must(binary.Write(out, binary.LittleEndian, uint32(len(ids))))
			for _, id := range ids {
				must(binary.Write(out, binary.LittleEndian, int32(id)))
			}
		case 'P':
			var id int32
			must(binary.Read(in, binary.LittleEndian, &id))
			p := m.TokenToPiece(int(id))
			must(binary.Write(out, binary.LittleEndian, uint32(len(p))))
			out.WriteString(p)
		default:
			fmt.Fprintf(os.Stderr, "bad request %q\n", op)
			os.Exit(2)
		}
		must(out.Flush())
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
