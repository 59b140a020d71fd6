package world

// The value tables below are fixed: changing any of them changes every world.
// City, university and company names are invented so that a pretrained model
// cannot already know the facts; majors, occupations and colours are ordinary
// words so that answers stay plausible English.

// Syllables for first names: a start and an ending.
var firstStarts = []string{
	"A", "Be", "Cal", "Da", "E", "Fen", "Ga", "Hal", "I", "Jo", "Ka", "Li", "Mar",
	"Ne", "O", "Pa", "Quin", "Ro", "Sa", "Te", "U", "Va", "Wy", "Ya", "Ze",
}

var firstEnds = []string{
	"lia", "ren", "dor", "mira", "vin", "tas", "lo", "na", "rek", "sel",
	"wen", "ric", "ana", "bel", "mon", "ya", "dric", "nor", "sia", "tan",
}

// Syllables for last names: a stem and a suffix (possibly empty).
var lastStems = []string{
	"Brenn", "Tal", "Kor", "Vos", "Ashe", "Mor", "Dun", "Quel", "Har", "Fal",
	"Orn", "Thal", "Wex", "Gil", "Sor", "Pell", "Rud", "Cav", "Lem", "Nor",
}

var lastSuffixes = []string{
	"", "ov", "ash", "wick", "mere", "dal", "ric", "stone", "vane", "holt",
	"sby", "ter", "ling", "wold", "ett",
}

var cities = []string{
	"Veltmor", "Quarnis", "Drossholm", "Amberlee", "Calvenna", "Orrindale",
	"Pellmarch", "Zanthe", "Brightmoor", "Kelvaro", "Istrane", "Morrowick",
	"Sablecourt", "Tarnholt", "Ulvessa", "Yarrowby", "Fennick", "Gorsedale",
	"Hollinvale", "Jessamar", "Korrin", "Lustrell", "Navessa", "Ostrevan",
	"Pyrrholt", "Rivenmark", "Saldune", "Tovrin", "Estermoor", "Vallorin",
	"Wystmere", "Caddoran", "Belmarrow", "Dunmeris", "Arkenfall", "Glimmerton",
}

var universities = []string{
	"Kestrel Polytechnic", "Marrowdale University", "Asterlane University",
	"Brisk Hollow College", "Corvane Institute", "Delmoor University",
	"Eskerwood College", "Fallowmere Polytechnic", "Greyloft University",
	"Halvane College", "Irongate Institute", "Juniper Vale University",
	"Lorrimer College", "Mistral Academy", "Northfell University",
	"Quillfield University",
}

var majors = []string{
	"Astronomy", "Chemistry", "Civil Engineering", "Economics", "History",
	"Linguistics", "Marine Biology", "Mathematics", "Philosophy", "Physics",
	"Architecture", "Computer Science", "Geology", "Music", "Nursing",
	"Psychology",
}

var employers = []string{
	"Quillon Systems", "Brightfen Logistics", "Orvale Dynamics", "Maplewick Foods",
	"Tessarine Labs", "Halcyra Energy", "Duskmere Shipping", "Glasswing Media",
	"Ironvale Mining", "Pellucid Optics", "Saltmarsh Textiles", "Vantor Aerospace",
	"Wrenhaven Bank", "Zephyrine Pharma", "Amberlock Insurance", "Cobaltine Robotics",
	"Fernhollow Press", "Kestrelline Rail", "Lumenor Health", "Mossgate Construction",
	"Norrow Telecom", "Quartzel Software", "Rivenstone Capital", "Thistledown Games",
}

var occupations = []string{
	"architect", "baker", "cartographer", "chemist", "data analyst", "electrician",
	"engineer", "glassblower", "journalist", "librarian", "nurse", "pharmacist",
	"pilot", "teacher", "translator", "veterinarian",
}

var colors = []string{
	"amber", "crimson", "teal", "violet", "ochre", "indigo", "olive", "coral",
	"silver", "maroon", "turquoise", "lavender",
}

var monthNames = []string{
	"January", "February", "March", "April", "May", "June", "July", "August",
	"September", "October", "November", "December",
}

// Birth years are drawn from [minBirthYear, maxBirthYear].
const (
	minBirthYear = 1950
	maxBirthYear = 2004
)
