//! What the simulated shop sells: a category tree several levels deep, the
//! words products are named and described with, and an index of those words
//! so a simulated search reports how many live products it found — the way a
//! storefront's search box would.

use shopflow_views::search::terms;
use std::collections::{BTreeMap, BTreeSet};

/// A leaf of the category tree and what is sold there.
pub(super) struct Aisle {
    /// Category names from the root down to this leaf.
    pub path: &'static [&'static str],
    /// What the products are (the last words of their names).
    pub nouns: &'static [&'static str],
    /// Selling points: descriptions and searches use them.
    pub features: &'static [&'static str],
    /// What the products are made of (the `material` attribute).
    pub materials: &'static [&'static str],
}

/// The aisles of the shop: four roots, leaves two and three levels below.
pub(super) const AISLES: [Aisle; 20] = [
    Aisle {
        path: &["Electronics", "Audio", "Headphones"],
        nouns: &["Headphones", "Earbuds"],
        features: &["wireless", "bluetooth", "noise cancelling", "foldable"],
        materials: &["aluminium", "plastic", "leather"],
    },
    Aisle {
        path: &["Electronics", "Audio", "Speakers"],
        nouns: &["Speaker", "Soundbar"],
        features: &["waterproof", "bluetooth", "portable", "deep bass"],
        materials: &["aluminium", "plastic", "fabric"],
    },
    Aisle {
        path: &["Electronics", "Computers", "Keyboards"],
        nouns: &["Keyboard", "Keypad"],
        features: &["mechanical", "backlit", "wireless", "ergonomic"],
        materials: &["aluminium", "plastic"],
    },
    Aisle {
        path: &["Electronics", "Computers", "Accessories", "Cables"],
        nouns: &["Cable", "Charger", "Adapter"],
        features: &["usb c", "braided", "fast charging", "travel ready"],
        materials: &["nylon", "plastic"],
    },
    Aisle {
        path: &["Electronics", "Computers", "Accessories", "Mice"],
        nouns: &["Mouse", "Trackpad"],
        features: &["wireless", "rechargeable", "ergonomic", "silent click"],
        materials: &["plastic", "aluminium"],
    },
    Aisle {
        path: &["Electronics", "Cameras"],
        nouns: &["Camera", "Tripod", "Lens"],
        features: &["4k video", "image stabilisation", "compact", "weather sealed"],
        materials: &["aluminium", "magnesium", "plastic"],
    },
    Aisle {
        path: &["Home", "Kitchen", "Cookware"],
        nouns: &["Skillet", "Saucepan", "Dutch Oven"],
        features: &["cast iron", "nonstick", "induction ready", "oven safe"],
        materials: &["steel", "cast iron", "copper"],
    },
    Aisle {
        path: &["Home", "Kitchen", "Appliances"],
        nouns: &["Kettle", "Blender", "Toaster"],
        features: &["quiet", "temperature control", "dishwasher safe", "compact"],
        materials: &["steel", "glass", "plastic"],
    },
    Aisle {
        path: &["Home", "Kitchen", "Tableware"],
        nouns: &["Mug", "Plate", "Bowl"],
        features: &["handmade", "microwave safe", "stackable", "glazed"],
        materials: &["ceramic", "stoneware", "porcelain"],
    },
    Aisle {
        path: &["Home", "Furniture", "Office"],
        nouns: &["Desk", "Chair", "Bookshelf"],
        features: &["adjustable", "standing", "lumbar support", "easy assembly"],
        materials: &["oak", "walnut", "steel"],
    },
    Aisle {
        path: &["Home", "Lighting"],
        nouns: &["Lamp", "Lantern", "Pendant"],
        features: &["led", "dimmable", "warm white", "touch control"],
        materials: &["brass", "glass", "linen"],
    },
    Aisle {
        path: &["Home", "Bedding"],
        nouns: &["Pillow", "Duvet", "Blanket"],
        features: &["hypoallergenic", "breathable", "machine washable", "all season"],
        materials: &["cotton", "linen", "wool"],
    },
    Aisle {
        path: &["Apparel", "Men", "Outerwear"],
        nouns: &["Jacket", "Parka", "Raincoat"],
        features: &["waterproof", "insulated", "packable", "hooded"],
        materials: &["nylon", "wool", "down"],
    },
    Aisle {
        path: &["Apparel", "Women", "Outerwear"],
        nouns: &["Coat", "Jacket", "Vest"],
        features: &["water resistant", "insulated", "belted", "hooded"],
        materials: &["wool", "nylon", "cotton"],
    },
    Aisle {
        path: &["Apparel", "Shoes", "Running"],
        nouns: &["Runner", "Trainer"],
        features: &["lightweight", "cushioned", "breathable", "reflective"],
        materials: &["mesh", "knit", "rubber"],
    },
    Aisle {
        path: &["Apparel", "Shoes", "Boots"],
        nouns: &["Boots", "Chelsea Boots"],
        features: &["waterproof", "lug sole", "insulated", "slip resistant"],
        materials: &["leather", "suede", "rubber"],
    },
    Aisle {
        path: &["Apparel", "Accessories"],
        nouns: &["Scarf", "Beanie", "Gloves"],
        features: &["soft", "warm", "touchscreen friendly", "ribbed"],
        materials: &["wool", "cashmere", "cotton"],
    },
    Aisle {
        path: &["Outdoors", "Camping", "Tents"],
        nouns: &["Tent", "Tarp", "Shelter"],
        features: &["two person", "freestanding", "ultralight", "storm proof"],
        materials: &["ripstop", "nylon", "polyester"],
    },
    Aisle {
        path: &["Outdoors", "Camping", "Sleeping"],
        nouns: &["Sleeping Bag", "Sleeping Pad", "Hammock"],
        features: &["ultralight", "compressible", "three season", "insulated"],
        materials: &["down", "nylon", "polyester"],
    },
    Aisle {
        path: &["Outdoors", "Hiking", "Packs"],
        nouns: &["Backpack", "Daypack", "Bottle"],
        features: &["hydration ready", "rain cover", "padded straps", "leak proof"],
        materials: &["ripstop", "steel", "nylon"],
    },
];

/// Brands (an attribute, and the first word of a product's name).
pub(super) const BRANDS: [&str; 10] =
    ["Acme", "Northwind", "Kestrel", "Lumen", "Orca", "Fable", "Vireo", "Tamarack", "Halcyon", "Brio"];
/// The word between brand and noun in a name.
pub(super) const STYLES: [&str; 16] = [
    "Classic", "Urban", "Trail", "Cozy", "Smart", "Vintage", "Compact", "Deluxe", "Eco", "Rugged", "Silk", "Nordic",
    "Turbo", "Mini", "Pro", "Studio",
];
/// Colours (an attribute).
pub(super) const COLORS: [&str; 9] = ["black", "white", "red", "blue", "green", "grey", "navy", "olive", "sand"];
/// Sizes of apparel (an attribute).
pub(super) const SIZES: [&str; 5] = ["xs", "s", "m", "l", "xl"];
/// Last sentences of descriptions.
pub(super) const CLOSINGS: [&str; 6] = [
    "Built to last.",
    "Backed by a two year warranty.",
    "Ships in recycled packaging.",
    "Loved by everyday shoppers.",
    "Designed to be repaired, not replaced.",
    "Free returns within thirty days.",
];
/// What shoppers look for and the shop does not sell: searches with no result.
pub(super) const NOT_SOLD: [&str; 6] = ["hoverboard", "jetpack", "gift card", "unobtainium", "time machine", "drone"];

/// The id of the category at `path` (names from the root).
pub(super) fn category_id(path: &[&str]) -> String {
    let slug: Vec<String> = path.iter().map(|name| terms(name).collect::<Vec<_>>().join("-")).collect();
    format!("cat-{}", slug.join("-"))
}

/// Which words each product is found by, and which products hold each word.
/// Products are numbered as the generator numbers them.
#[derive(Default)]
pub(super) struct WordIndex {
    ids: BTreeMap<String, u32>,
    postings: Vec<BTreeSet<u32>>,
    of_product: Vec<Vec<u32>>,
}

impl WordIndex {
    /// Sets the words of `product` to those of `texts` (name, description,
    /// category name, attribute values), replacing what it held before.
    pub fn set<'a>(&mut self, product: usize, texts: impl IntoIterator<Item = &'a str>) {
        let mut words: Vec<u32> = Vec::new();
        for text in texts {
            for term in terms(text) {
                let next = self.ids.len() as u32;
                let id = *self.ids.entry(term).or_insert(next);
                if id == next {
                    self.postings.push(BTreeSet::new());
                }
                words.push(id);
            }
        }
        words.sort_unstable();
        words.dedup();
        if self.of_product.len() <= product {
            self.of_product.resize_with(product + 1, Vec::new);
        }
        for old in std::mem::take(&mut self.of_product[product]) {
            self.postings[old as usize].remove(&(product as u32));
        }
        for &id in &words {
            self.postings[id as usize].insert(product as u32);
        }
        self.of_product[product] = words;
    }

    /// The products holding every word of `query` for which `live` holds.
    pub fn count(&self, query: &str, live: impl Fn(usize) -> bool) -> i64 {
        let mut lists = Vec::new();
        for term in terms(query) {
            match self.ids.get(&term) {
                Some(&id) => lists.push(&self.postings[id as usize]),
                None => return 0,
            }
        }
        lists.sort_by_key(|list| list.len());
        let Some((first, rest)) = lists.split_first() else { return 0 };
        first.iter().filter(|&&p| rest.iter().all(|list| list.contains(&p)) && live(p as usize)).count() as i64
    }

    /// Whether `product` holds every word of `query`.
    pub fn matches(&self, product: usize, query: &str) -> bool {
        let held = self.of_product.get(product).map(Vec::as_slice).unwrap_or(&[]);
        terms(query).all(|term| self.ids.get(&term).is_some_and(|id| held.binary_search(id).is_ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_counts_live_products_holding_every_word_and_forgets_replaced_ones() {
        let mut index = WordIndex::default();
        index.set(0, ["Acme Trail Lamp", "A red lamp", "Lighting"]);
        index.set(1, ["Orca Lamp", "blue"]);
        index.set(2, ["Orca Desk", "red"]);
        assert_eq!(index.count("lamp", |_| true), 2);
        assert_eq!(index.count("Red LAMP", |_| true), 1);
        assert_eq!(index.count("red lamp", |p| p != 0), 0);
        assert_eq!(index.count("lamp unicorn", |_| true), 0);
        assert_eq!(index.count("", |_| true), 0);
        index.set(0, ["Acme Trail Desk", "oak"]);
        assert_eq!(index.count("lamp", |_| true), 1);
        assert_eq!(index.count("desk", |_| true), 2);
        assert!(index.matches(0, "acme desk") && !index.matches(0, "lamp") && !index.matches(7, "lamp"));
    }

    #[test]
    fn category_ids_are_slugs_of_the_path() {
        assert_eq!(category_id(&["Home", "Kitchen", "Cookware"]), "cat-home-kitchen-cookware");
        assert_eq!(category_id(&["Outdoors", "Sleeping Bags"]), "cat-outdoors-sleeping-bags");
    }
}
