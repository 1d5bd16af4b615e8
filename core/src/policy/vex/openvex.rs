//! OpenVEX v0.2.0 JSON documents.
//!
//! `not_affected` and `fixed` statements become mutes, one per product (or per
//! subcomponent, when a product lists them: the subcomponent is what the scanner
//! reports) and per vulnerability id and alias. `affected` and `under_investigation`
//! statements are reported as ignored. Unknown fields are accepted (the format grows);
//! unknown statuses and justifications are errors, because guessing could mute a
//! real finding.

use super::{Claim, VexError, VexImport, VexLimits, mutes, parse_json, parse_timestamp, resolve};
use crate::verdict::mute_rule::Justification;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(rename = "@context")]
    context: String,
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    statements: Vec<Statement>,
}

#[derive(Debug, Deserialize)]
struct Statement {
    vulnerability: Vulnerability,
    #[serde(default)]
    products: Vec<Product>,
    status: String,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    impact_statement: Option<String>,
    #[serde(default)]
    action_statement: Option<String>,
    #[serde(default)]
    status_notes: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Vulnerability {
    Name(String),
    Object {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        aliases: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
struct Product {
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    identifiers: Option<Identifiers>,
    #[serde(default)]
    subcomponents: Vec<Product>,
}

#[derive(Debug, Deserialize)]
struct Identifiers {
    #[serde(default)]
    purl: Option<String>,
}

impl Product {
    /// The product's purl: `identifiers.purl`, else an `@id` that is a purl.
    fn purl(&self) -> Option<&str> {
        self.identifiers
            .as_ref()
            .and_then(|i| i.purl.as_deref())
            .or(self.id.as_deref().filter(|id| id.starts_with("pkg:")))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    fn label(&self) -> String {
        self.purl()
            .or(self.id.as_deref())
            .unwrap_or("(unnamed product)")
            .to_owned()
    }
}

/// What a status means for muting.
enum Status {
    NotAffected,
    Fixed,
    Affected,
    UnderInvestigation,
}

/// Parses an OpenVEX document; `name` (e.g. the file it came from) is recorded as
/// the provenance of every mute.
pub fn parse(bytes: &[u8], name: &str, limits: &VexLimits) -> Result<VexImport, VexError> {
    let document: Document = parse_json(bytes, limits)?;
    if !document.context.starts_with("https://openvex.dev/ns") {
        return Err(VexError::Invalid {
            path: "@context".to_owned(),
            problem: format!("{:?} is not an OpenVEX context", document.context),
        });
    }
    if document.statements.len() > limits.max_statements {
        return Err(VexError::TooManyStatements {
            count: document.statements.len(),
            limit: limits.max_statements,
        });
    }
    let document_time = parse_timestamp(document.timestamp.as_deref(), || "timestamp".to_owned())?;
    let mut claims = Vec::new();
    for (index, statement) in document.statements.iter().enumerate() {
        let at = |field: &str| format!("statements[{index}].{field}");
        let (primary, aliases) = match &statement.vulnerability {
            Vulnerability::Name(name) => (Some(name.as_str()), &[][..]),
            // `@id` is an IRI (e.g. an NVD page), not an id findings carry: `name` is required.
            Vulnerability::Object { name, aliases } => (name.as_deref(), aliases.as_slice()),
        };
        let primary = primary
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| VexError::Invalid {
                path: at("vulnerability"),
                problem: "no vulnerability name".to_owned(),
            })?;
        let status = match statement.status.as_str() {
            "not_affected" => Status::NotAffected,
            "fixed" => Status::Fixed,
            "affected" => Status::Affected,
            "under_investigation" => Status::UnderInvestigation,
            other => {
                return Err(VexError::Invalid {
                    path: at("status"),
                    problem: format!("unknown status {other:?}"),
                });
            }
        };
        let justification = match statement.justification.as_deref() {
            None => None,
            Some(text) => Some(
                Justification::from_vex(text).ok_or_else(|| VexError::Invalid {
                    path: at("justification"),
                    problem: format!("unknown justification {text:?}"),
                })?,
            ),
        };
        let timestamp =
            parse_timestamp(statement.timestamp.as_deref(), || at("timestamp"))?.or(document_time);
        if statement.products.is_empty() {
            return Err(VexError::Invalid {
                path: at("products"),
                problem: "a statement needs at least one product".to_owned(),
            });
        }
        // The subcomponents are what a scan reports; without any, the product itself.
        let mut targets: Vec<&Product> = Vec::new();
        for product in &statement.products {
            if product.subcomponents.is_empty() {
                targets.push(product);
            } else {
                targets.extend(product.subcomponents.iter());
            }
        }
        for target in targets {
            let outcome = match (&status, target.purl()) {
                (Status::Affected, _) => Err(format!(
                    "status affected{}",
                    note(statement.action_statement.as_deref())
                )),
                (Status::UnderInvestigation, _) => Err(format!(
                    "status under_investigation{}",
                    note(statement.status_notes.as_deref())
                )),
                (_, None) => Err("product has no purl to match findings against".to_owned()),
                (Status::NotAffected, Some(_))
                    if justification.is_none() && statement.impact_statement.is_none() =>
                {
                    // The spec requires one of them; muting without a reason is not reviewable.
                    Err("not_affected without justification or impact_statement".to_owned())
                }
                (Status::NotAffected, Some(purl)) => Ok(mutes(
                    std::iter::once(primary).chain(aliases.iter().map(String::as_str)),
                    purl,
                    justification,
                    statement
                        .impact_statement
                        .as_deref()
                        .unwrap_or("not affected per VEX"),
                    document.author.as_deref(),
                    name,
                    index,
                )),
                (Status::Fixed, Some(purl)) => Ok(mutes(
                    std::iter::once(primary).chain(aliases.iter().map(String::as_str)),
                    purl,
                    justification,
                    "fixed per VEX",
                    document.author.as_deref(),
                    name,
                    index,
                )),
            };
            claims.push(Claim {
                statement: index,
                vulnerability: primary.to_owned(),
                product: target.label(),
                timestamp,
                outcome,
            });
        }
    }
    Ok(resolve(claims, document.id))
}

fn note(text: Option<&str>) -> String {
    text.map(|t| format!(": {t}")).unwrap_or_default()
}
