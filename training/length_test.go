package training

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

func TestParseLength(t *testing.T) {
	tests := []struct {
		in        string
		want      Length
		stepsAt55 int // steps with 55 steps per epoch
		wantErr   bool
	}{
		{"2000it", Length{Steps: 2000}, 2000, false},
		{"2000", Length{Steps: 2000}, 2000, false},
		{"5ep", Length{Epochs: 5}, 275, false},
		{"0.5ep", Length{Epochs: 0.5}, 28, false},
		{"0it", Length{}, 0, false},
		{"-3it", Length{}, 0, true},
		{"fiveep", Length{}, 0, true},
		{"12 steps", Length{}, 0, true},
		{"Infep", Length{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLength(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseLength(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want || got.StepsFor(55) != tt.stepsAt55 {
				t.Errorf("ParseLength(%q) = %+v (%d steps), want %+v (%d)", tt.in, got, got.StepsFor(55), tt.want, tt.stepsAt55)
			}
			back, err := ParseLength(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q through %q gave %+v, %v", tt.in, got.String(), back, err)
			}
		})
	}
}

func TestLengthJSON(t *testing.T) {
	b, err := json.Marshal(struct{ L Length }{Length{Epochs: 3}})
	if err != nil || string(b) != `{"L":"3ep"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ L Length }
	if err := json.Unmarshal([]byte(`{"L":"250it"}`), &v); err != nil || v.L != (Length{Steps: 250}) {
		t.Errorf("Unmarshal = %+v, %v", v, err)
	}
}

func TestLRSchedules(t *testing.T) {
	step := StepDecayLR{Base: 0.1, Gamma: 0.1, Milestones: []int{10, 20}}
	cos := CosineLR{Base: 1, Min: 0, WarmupSteps: 2, Steps: 12}
	tests := []struct {
		name string
		s    LRSchedule
		step int
		want float64
	}{
		{"constant", ConstantLR(0.5), 1000, 0.5},
		{"step before", step, 9, 0.1},
		{"step first", step, 10, 0.01},
		{"step second", step, 25, 0.001},
		{"cosine warmup", cos, 0, 0.5},
		{"cosine peak", cos, 2, 1},
		{"cosine middle", cos, 7, 0.5},
		{"cosine end", cos, 12, 0},
		{"func", LRFunc(func(s int) float64 { return float64(s) }), 3, 3},
	}
	for _, tt := range tests {
		if got := tt.s.LearningRate(tt.step); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: LearningRate(%d) = %g, want %g", tt.name, tt.step, got, tt.want)
		}
	}
}

func TestParseLRSchedule(t *testing.T) {
	s, err := ParseLRSchedule("step:0.1@32000,48000", 0.1, 64000)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", s); got != "{Base:0.1 Gamma:0.1 Milestones:[32000 48000]}" {
		t.Errorf("parsed %s", got)
	}
	if c, err := ParseLRSchedule("cosine", 0.2, 100); err != nil || c.(CosineLR).Steps != 100 {
		t.Errorf("cosine = %+v, %v", c, err)
	}
	for _, tt := range []struct {
		s      string
		warmup int
	}{{"cosine:500", 500}, {"cosine:500it", 500}, {"cosine:0", 0}} {
		c, err := ParseLRSchedule(tt.s, 0.2, 1000)
		want := CosineLR{Base: 0.2, WarmupSteps: tt.warmup, Steps: 1000}
		if err != nil || c != want {
			t.Errorf("ParseLRSchedule(%q) = %+v, %v; want %+v", tt.s, c, err, want)
		}
	}
	for _, bad := range []string{"linear", "step:x@1", "step:0.1@a,b", "cosine:", "cosine:-1", "cosine:1ep", "cosine:10"} {
		if _, err := ParseLRSchedule(bad, 0.1, 10); err == nil {
			t.Errorf("ParseLRSchedule(%q) succeeded", bad)
		}
	}
}

func ExampleParseLength() {
	l, _ := ParseLength("2.5ep")
	fmt.Println(l, "=", l.StepsFor(916), "steps of batch 60 on 55,000 images")
	// Output: 2.5ep = 2290 steps of batch 60 on 55,000 images
}
