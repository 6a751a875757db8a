//! A small XML reader for the tests (MPDs and Smooth manifests) and `xs:duration` values.

use std::collections::BTreeMap;

/// A parsed XML element: name, attributes, children (enough for MPDs and Smooth manifests).
#[derive(Debug, Clone, Default)]
pub struct El {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub children: Vec<El>,
}

impl El {
    pub fn parse(xml: &str) -> El {
        use quick_xml::events::Event;
        let mut r = quick_xml::Reader::from_str(xml);
        let mut stack = vec![El::default()];
        loop {
            match r.read_event().unwrap() {
                Event::Start(e) => stack.push(El::from_start(&e)),
                Event::Empty(e) => {
                    let el = El::from_start(&e);
                    stack.last_mut().unwrap().children.push(el);
                }
                Event::End(_) => {
                    let el = stack.pop().unwrap();
                    stack.last_mut().unwrap().children.push(el);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        stack.pop().unwrap().children.remove(0)
    }
    pub fn from_start(e: &quick_xml::events::BytesStart) -> El {
        El {
            name: e.local_name().as_ref().to_string(),
            attrs: e
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        a.key.local_name().as_ref().to_string(),
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned(),
                    )
                })
                .collect(),
            children: Vec::new(),
        }
    }
    pub fn all(&self, name: &str) -> Vec<&El> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
    pub fn one(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }
    pub fn num(&self, k: &str) -> Option<u64> {
        self.attr(k).map(|v| v.parse().unwrap())
    }
}

/// `PT#H#M#S` → seconds.
pub fn xs_seconds(v: &str) -> f64 {
    let mut total = 0.0;
    let mut num = String::new();
    for c in v.trim_start_matches("PT").chars() {
        match c {
            'H' => total += num.parse::<f64>().unwrap() * 3600.0,
            'M' => total += num.parse::<f64>().unwrap() * 60.0,
            'S' => total += num.parse::<f64>().unwrap(),
            _ => {
                num.push(c);
                continue;
            }
        }
        num.clear();
    }
    total
}
