// Package world generates a seeded synthetic world of made-up people for the
// forgetting lab: their biographies (pretraining text), question–answer pairs
// about them, task families over those facts, and a pretraining corpus that
// mixes the biographies with real prose.
//
// Everything is a pure function of Options: the same seed yields the same
// people, texts, splits and corpus on every machine and Go release.
package world

import (
	"cmp"
	"fmt"
	"strconv"
)

// Options configure a world. Zero fields take the documented defaults.
type Options struct {
	// Seed selects the world.
	Seed int64
	// Known is the number of people whose biographies are in the
	// pretraining corpus (default 200).
	Known int
	// Newcomers is the number of people kept out of pretraining, whose
	// facts are taught later by knowledge injection (default 40).
	Newcomers int
	// TrainFrac and ValFrac split people (or facts) into train, validation
	// and test; the rest is test (defaults 0.6 and 0.2).
	TrainFrac, ValFrac float64
}

// Limits on world size: the name tables hold 150,000 full names, and far
// below that bound unique names are found in a few draws.
const (
	minPeople = 5
	maxPeople = 20000
)

func (o Options) withDefaults() Options {
	o.Known = cmp.Or(o.Known, 200)
	o.Newcomers = cmp.Or(o.Newcomers, 40)
	o.TrainFrac = cmp.Or(o.TrainFrac, 0.6)
	o.ValFrac = cmp.Or(o.ValFrac, 0.2)
	return o
}

func (o Options) validate() error {
	if o.Known < minPeople || o.Newcomers < minPeople {
		return fmt.Errorf("world: need at least %d known and %d new people, got %d and %d", minPeople, minPeople, o.Known, o.Newcomers)
	}
	if o.Known+o.Newcomers > maxPeople {
		return fmt.Errorf("world: %d people requested, at most %d supported", o.Known+o.Newcomers, maxPeople)
	}
	if o.TrainFrac <= 0 || o.ValFrac <= 0 || o.TrainFrac+o.ValFrac >= 1 {
		return fmt.Errorf("world: split fractions train=%g validation=%g must be positive and sum to less than 1", o.TrainFrac, o.ValFrac)
	}
	return nil
}

// Date is a calendar date.
type Date struct {
	Day, Month, Year int
}

// String formats the date as "14 March 1987".
func (d Date) String() string {
	if d.Month < 1 || d.Month > 12 {
		return fmt.Sprintf("%d ?%d? %d", d.Day, d.Month, d.Year)
	}
	return strconv.Itoa(d.Day) + " " + monthNames[d.Month-1] + " " + strconv.Itoa(d.Year)
}

// Attribute names one fact about a person.
type Attribute string

// The attributes every person has.
const (
	BirthDate  Attribute = "birth_date"
	BirthCity  Attribute = "birth_city"
	University Attribute = "university"
	Major      Attribute = "major"
	Employer   Attribute = "employer"
	Occupation Attribute = "occupation"
	Color      Attribute = "color"
)

// Attributes returns every attribute in a fixed order.
func Attributes() []Attribute {
	return []Attribute{BirthDate, BirthCity, University, Major, Employer, Occupation, Color}
}

// Person is one made-up individual.
type Person struct {
	First, Last string
	Birth       Date
	City        string // birth city
	University  string
	Major       string
	Employer    string
	Occupation  string
	Color       string // favourite colour
}

// Name returns the full name, unique within a world.
func (p Person) Name() string { return p.First + " " + p.Last }

// Value returns the person's value for attribute a as it appears in answers,
// and false for an unknown attribute.
func (p Person) Value(a Attribute) (string, bool) {
	switch a {
	case BirthDate:
		return p.Birth.String(), true
	case BirthCity:
		return p.City, true
	case University:
		return p.University, true
	case Major:
		return p.Major, true
	case Employer:
		return p.Employer, true
	case Occupation:
		return p.Occupation, true
	case Color:
		return p.Color, true
	}
	return "", false
}

// World is a generated population. Known people appear in the pretraining
// corpus; Newcomers do not.
type World struct {
	opts      Options
	Known     []Person
	Newcomers []Person
}

// New generates the world described by opts.
func New(opts Options) (*World, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r := newRNG(opts.Seed, streamPeople)
	seen := make(map[string]bool, opts.Known+opts.Newcomers)
	people := make([]Person, 0, opts.Known+opts.Newcomers)
	for range opts.Known + opts.Newcomers {
		p, err := newPerson(r, seen)
		if err != nil {
			return nil, err
		}
		people = append(people, p)
	}
	return &World{opts: opts, Known: people[:opts.Known:opts.Known], Newcomers: people[opts.Known:]}, nil
}

// Options returns the options the world was built from, defaults filled in.
func (w *World) Options() Options { return w.opts }

// newPerson draws one person whose full name is not yet in seen.
func newPerson(r *rng, seen map[string]bool) (Person, error) {
	const maxTries = 10000
	var p Person
	for try := 0; ; try++ {
		if try == maxTries {
			return Person{}, fmt.Errorf("world: no unique name found after %d draws", maxTries)
		}
		p.First = pick(r, firstStarts) + pick(r, firstEnds)
		p.Last = pick(r, lastStems) + pick(r, lastSuffixes)
		if !seen[p.Name()] {
			break
		}
	}
	seen[p.Name()] = true
	year := minBirthYear + r.Intn(maxBirthYear-minBirthYear+1)
	month := 1 + r.Intn(12)
	p.Birth = Date{Day: 1 + r.Intn(daysIn(month, year)), Month: month, Year: year}
	p.City = pick(r, cities)
	p.University = pick(r, universities)
	p.Major = pick(r, majors)
	p.Employer = pick(r, employers)
	p.Occupation = pick(r, occupations)
	p.Color = pick(r, colors)
	return p, nil
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
