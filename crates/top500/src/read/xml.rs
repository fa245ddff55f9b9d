//! The TOP500 XML exports (namespace `http://www.top500.org/xml/top500/1.0`), read with quick-xml.
//!
//! The root is `<top500:list>`, each system a `<top500:site>` with leaf elements (`rank`, `computer`,
//! `r-max`, `r-peak`, `installation-site-name`, …). Elements are matched by namespace and local name, so
//! any prefix works. Rmax and Rpeak are in GFlop/s. The XML has no interconnect and no accelerator
//! column; the 2011-11 and later files carry `system-name`, earlier ones fold the name into `computer`
//! ("Jaguar - Cray XT5-HE …"), which [`crate::join`] untangles against a CSV or Excel export.

use std::collections::HashMap;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

use super::columns::{Cell, parse_number};
use crate::error::Error;
use crate::record::{Kilowatts, System, TFlops};

/// The namespace of the TOP500 XML schema.
pub const NAMESPACE: &str = "http://www.top500.org/xml/top500/1.0";

fn line_of(bytes: &[u8], pos: u64) -> u64 {
    let end = (pos as usize).min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// Parse an XML export into systems.
pub fn parse(bytes: &[u8], origin: &str) -> Result<Vec<System>, Error> {
    let mut reader = NsReader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let ns = Namespace(NAMESPACE.as_bytes());
    let syntax = |at: u64, e: quick_xml::Error| Error::Syntax {
        origin: origin.into(),
        line: line_of(bytes, at),
        message: format!("malformed XML: {e}"),
    };

    let mut depth = 0usize;
    let mut saw_root = false;
    // Inside a <site>: the open element names below it, its fields with their byte positions.
    let mut in_site: Option<u64> = None;
    let mut path: Vec<String> = Vec::new();
    let mut fields: HashMap<String, (String, u64)> = HashMap::new();
    let mut systems = Vec::with_capacity(500);

    loop {
        let pos = reader.buffer_position();
        let (res, event) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(e) => {
                let at = reader.error_position();
                return Err(syntax(at, e));
            }
        };
        match event {
            Event::Start(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let ours = matches!(res, ResolveResult::Bound(n) if n == ns);
                if depth == 0 {
                    if !(ours && local == "list") {
                        let found = match res {
                            ResolveResult::Bound(n) => {
                                format!(" in namespace {}", String::from_utf8_lossy(n.as_ref()))
                            }
                            _ => " without a namespace".into(),
                        };
                        return Err(Error::NotTop500 {
                            origin: origin.into(),
                            reason: format!(
                                "the root element is <{local}>{found}, expected <list> in {NAMESPACE}"
                            ),
                        });
                    }
                    saw_root = true;
                } else if depth == 1 && ours && local == "site" {
                    in_site = Some(pos);
                    fields.clear();
                    path.clear();
                } else if in_site.is_some() {
                    path.push(if ours { local } else { String::new() });
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    if let Some(site_pos) = in_site.take() {
                        systems.push(build(&fields, origin, bytes, site_pos)?);
                    }
                } else if in_site.is_some() {
                    path.pop();
                }
            }
            Event::Empty(e) if depth == 0 => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                return Err(Error::NotTop500 {
                    origin: origin.into(),
                    reason: format!("the root element <{local}> is empty"),
                });
            }
            Event::Text(t) if in_site.is_some() => {
                if let Some(leaf) = path.last().filter(|l| !l.is_empty()) {
                    let value = t.unescape().map_err(|e| syntax(pos, e))?;
                    let entry = fields
                        .entry(leaf.clone())
                        .or_insert_with(|| (String::new(), pos));
                    entry.0.push_str(&value);
                }
            }
            Event::CData(t) => {
                if let (Some(_), Some(leaf)) = (in_site, path.last().filter(|l| !l.is_empty())) {
                    let entry = fields
                        .entry(leaf.clone())
                        .or_insert_with(|| (String::new(), pos));
                    entry.0.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(Error::NotTop500 {
            origin: origin.into(),
            reason: "no XML root element".into(),
        });
    }
    if depth != 0 {
        return Err(Error::Syntax {
            origin: origin.into(),
            line: line_of(bytes, bytes.len() as u64),
            message: "the XML ends inside an element".into(),
        });
    }
    if systems.is_empty() {
        return Err(Error::NotTop500 {
            origin: origin.into(),
            reason: "a <list> without <site> entries".into(),
        });
    }
    Ok(systems)
}

fn build(
    fields: &HashMap<String, (String, u64)>,
    origin: &str,
    bytes: &[u8],
    site_pos: u64,
) -> Result<System, Error> {
    let text = |k: &str| {
        fields
            .get(k)
            .map(|(v, _)| v.trim().to_string())
            .unwrap_or_default()
    };
    let err = |k: &str, problem: String| Error::Field {
        origin: origin.into(),
        line: line_of(bytes, fields.get(k).map(|(_, p)| *p).unwrap_or(site_pos)),
        column: format!("<{k}>"),
        problem,
    };
    let number = |k: &str| -> Result<Option<f64>, Error> {
        match fields.get(k) {
            None => Ok(None),
            Some((v, _)) => parse_number(Cell::Text(v)).map_err(|p| err(k, p)),
        }
    };
    let integer = |k: &str| -> Result<Option<u64>, Error> {
        match number(k)? {
            None => Ok(None),
            Some(v) if v.fract() == 0.0 && (0.0..=1e15).contains(&v) => Ok(Some(v as u64)),
            Some(v) => Err(err(k, format!("`{v}` is not a whole number"))),
        }
    };
    let rank = match integer("rank")? {
        Some(r) if (1..=u32::MAX as u64).contains(&r) => r as u32,
        Some(_) => return Err(err("rank", "rank must be 1 or more".into())),
        None => return Err(err("rank", "missing rank".into())),
    };
    let rmax = number("r-max")?.ok_or_else(|| err("r-max", "missing Rmax".into()))?;
    let rpeak = number("r-peak")?.ok_or_else(|| err("r-peak", "missing Rpeak".into()))?;
    let mut s = System::new(rank, TFlops::from_gflops(rmax), TFlops::from_gflops(rpeak))
        .map_err(|e| err("r-max", e.to_string()))?;
    s.name = Some(text("system-name")).filter(|n| !n.is_empty());
    s.computer = text("computer");
    s.site = text("installation-site-name");
    s.manufacturer = text("manufacturer");
    s.country = text("country");
    s.year = integer("year")?
        .and_then(|y| u16::try_from(y).ok())
        .filter(|y| *y > 0);
    s.cores = integer("number-of-processors")?.filter(|c| *c > 0);
    s.power = number("power")?.filter(|p| *p > 0.0).map(Kilowatts);
    s.segment = text("area-of-installation");
    s.system_id = integer("system-id")?;
    if s.rmax_exceeds_rpeak() {
        tracing::warn!(
            "{origin}: rank {rank}: Rmax {} above Rpeak {}, kept as published",
            s.rmax(),
            s.rpeak()
        );
    }
    s.classify();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<t:list xmlns:t="http://www.top500.org/xml/top500/1.0">
   <t:site>
      <t:rank>2</t:rank>
      <t:system-id>10484</t:system-id>
      <t:manufacturer>Dawning</t:manufacturer>
      <t:computer>Nebulae - Dawning TC3600 Blade, Intel X5650, NVidia Tesla C2050 GPU</t:computer>
      <t:r-max>1.271e+06</t:r-max>
      <t:installation-site>
         <t:installation-site-name>National Supercomputing Centre in Shenzhen (NSCS)</t:installation-site-name>
      </t:installation-site>
      <t:r-peak>2.9843e+06</t:r-peak>
      <t:power>0.00</t:power>
      <t:n-half />
   </t:site>
</t:list>"#;

    #[test]
    fn reads_any_prefix() {
        let s = parse(MINI.as_bytes(), "m.xml").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].rank(), 2);
        assert_eq!(s[0].rpeak().tflops(), 2984.3);
        assert_eq!(
            s[0].site,
            "National Supercomputing Centre in Shenzhen (NSCS)"
        );
        assert_eq!(s[0].power, None);
        assert_eq!(s[0].system_id, Some(10484));
        assert!(s[0].is_gpgpu());
    }

    #[test]
    fn refuses_other_xml() {
        let e = parse(b"<rss><channel/></rss>", "feed.xml").unwrap_err();
        assert!(matches!(e, Error::NotTop500 { .. }), "{e}");
        let wrong_ns = MINI.replace("top500.org/xml/top500/1.0", "example.org/other");
        assert!(matches!(
            parse(wrong_ns.as_bytes(), "o.xml"),
            Err(Error::NotTop500 { .. })
        ));
    }

    #[test]
    fn bad_value_is_located() {
        let bad = MINI.replace("2.9843e+06", "lots");
        let e = parse(bad.as_bytes(), "m.xml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.xml:12: column <r-peak>: `lots` is not a number"
        );
        let cut = &MINI[..MINI.len() - 20];
        assert!(matches!(
            parse(cut.as_bytes(), "c.xml"),
            Err(Error::Syntax { .. })
        ));
    }
}
