//! DPU/SmartNIC layout (Redfish `Chassis` and `ComputerSystem` schemas): a SmartNIC's BMC
//! exposes a card chassis (`ChassisType` `Card`) that carries a computer system (the SoC, which
//! newer services mark `SystemType` `DPU`), and board chassis it `Contains` (its BMC, its
//! root of trust). NVIDIA BlueField-3: `Card1` links `Systems/Bluefield` and contains
//! `Bluefield_BMC` and `Bluefield_ERoT`.
//!
//! The card is identified on every resource of its BMC: `dpu.vendor`, `dpu.model`,
//! `dpu.serial_number` (the names the `resourcedetection` `dpu` detector uses on the card
//! itself, so the two agree), `dpu.part_number`, `dpu.chassis.id`. Where the card's
//! `Links.ContainedBy` names a chassis of the same service (a host BMC that lists the card in
//! its server), or a `PCIeDevice` in another chassis's `PCIeDevices` links the card
//! (`PCIeDevice.Links.Chassis`: the server's BMC sees the card in one of its slots), the
//! hosting server is identified too: `dpu.host.chassis.id`, `dpu.host.manufacturer`,
//! `dpu.host.model`, `dpu.host.serial_number`.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde_json::Value;

use crate::scraper::str_kv;

fn text<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn link_ids<'a>(doc: &'a Value, key: &str) -> Vec<&'a str> {
    match doc.pointer(&format!("/Links/{key}")) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|l| l.get("@odata.id")?.as_str())
            .collect(),
        Some(o @ Value::Object(_)) => o
            .get("@odata.id")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// A DPU card of a service, with what identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The card chassis's URI.
    pub uri: String,
    /// The chassis and systems of the card: the card, what it contains, what it links.
    pub members: Vec<String>,
    /// `dpu.*` (and `dpu.host.*`) resource attributes.
    pub attributes: Vec<KeyValue>,
}

/// The DPU cards among `chassis` (each a Chassis document) given `systems`: a chassis of
/// `ChassisType` `Card` that links a computer system, or that a system of `SystemType` `DPU`
/// links. `pcie` holds, per chassis URI, the `PCIeDevice` documents of its `PCIeDevices`
/// (read only for a card no `ContainedBy` places, see [`needs_pcie`]).
pub fn cards(chassis: &[&Value], systems: &[&Value], pcie: &[(String, Vec<Value>)]) -> Vec<Card> {
    let mut out = Vec::new();
    for c in chassis {
        let Some(uri) = text(c, "@odata.id") else {
            continue;
        };
        if text(c, "ChassisType") != Some("Card") {
            continue;
        }
        let linked_systems = link_ids(c, "ComputerSystems");
        let dpu_system_links_it = systems
            .iter()
            .any(|s| text(s, "SystemType") == Some("DPU") && link_ids(s, "Chassis").contains(&uri));
        if linked_systems.is_empty() && !dpu_system_links_it {
            continue;
        }
        let mut members = vec![uri.to_owned()];
        members.extend(link_ids(c, "Contains").into_iter().map(str::to_owned));
        members.extend(
            chassis
                .iter()
                .filter(|o| link_ids(o, "ContainedBy").contains(&uri))
                .filter_map(|o| text(o, "@odata.id").map(str::to_owned)),
        );
        members.extend(linked_systems.iter().map(|s| (*s).to_owned()));
        members.extend(
            systems
                .iter()
                .filter(|s| link_ids(s, "Chassis").contains(&uri))
                .filter_map(|s| text(s, "@odata.id").map(str::to_owned)),
        );
        members.sort();
        members.dedup();
        let mut attributes = Vec::new();
        for (k, p) in [
            ("dpu.vendor", "Manufacturer"),
            ("dpu.model", "Model"),
            ("dpu.serial_number", "SerialNumber"),
            ("dpu.part_number", "PartNumber"),
            ("dpu.chassis.id", "Id"),
        ] {
            if let Some(v) = text(c, p) {
                attributes.push(str_kv(k, v));
            }
        }
        let by_pcie = pcie.iter().find_map(|(holder, devices)| {
            (holder != uri
                && devices
                    .iter()
                    .any(|d| link_ids(d, "Chassis").contains(&uri)))
            .then_some(holder.as_str())
        });
        if let Some(host) = link_ids(c, "ContainedBy")
            .first()
            .copied()
            .or(by_pcie)
            .and_then(|h| chassis.iter().find(|o| text(o, "@odata.id") == Some(h)))
        {
            for (k, p) in [
                ("dpu.host.chassis.id", "Id"),
                ("dpu.host.manufacturer", "Manufacturer"),
                ("dpu.host.model", "Model"),
                ("dpu.host.serial_number", "SerialNumber"),
            ] {
                if let Some(v) = text(host, p) {
                    attributes.push(str_kv(k, v));
                }
            }
        }
        out.push(Card {
            uri: uri.to_owned(),
            members,
            attributes,
        });
    }
    out
}

/// The chassis whose `PCIeDevices` are worth reading: those of a service with a DPU card that
/// no `Links.ContainedBy` places (its server may list it as a PCIe device), other than the
/// cards themselves. Empty on a DPU's own BMC whose card says where it is, and on a service
/// without cards, so those pay no extra request.
pub fn needs_pcie<'a>(chassis: &[&'a Value], systems: &[&Value]) -> Vec<&'a str> {
    let cards = cards(chassis, systems, &[]);
    let unplaced = cards.iter().any(|c| {
        chassis
            .iter()
            .find(|o| text(o, "@odata.id") == Some(c.uri.as_str()))
            .is_none_or(|o| link_ids(o, "ContainedBy").is_empty())
    });
    if !unplaced {
        return Vec::new();
    }
    chassis
        .iter()
        .filter(|c| text(c, "ChassisType") != Some("Card"))
        .filter(|c| c.get("PCIeDevices").is_some())
        .filter_map(|c| text(c, "@odata.id"))
        .collect()
}

/// The `dpu.*` attributes for the resource of `uri` (a chassis or a system): its card's; on
/// a service with exactly one card (a DPU's own BMC), every resource gets that card's.
pub fn attributes_for<'a>(cards: &'a [Card], uri: &str) -> Option<&'a [KeyValue]> {
    match cards {
        [only] => Some(&only.attributes),
        many => many
            .iter()
            .find(|c| c.members.iter().any(|m| m == uri))
            .map(|c| c.attributes.as_slice()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(c: &Card) -> Vec<(String, String)> {
        c.attributes
            .iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => s.clone(),
                    _ => String::new(),
                };
                (kv.key.clone(), v)
            })
            .collect()
    }

    /// A host BMC that lists two SmartNICs in its server: each card is its own, with the
    /// hosting server from `ContainedBy`; the server's own resource gets none.
    #[test]
    fn cards_in_a_host_carry_the_host() {
        let host = json!({"@odata.id": "/redfish/v1/Chassis/1U", "Id": "1U", "ChassisType": "RackMount",
            "Manufacturer": "Contoso", "Model": "3500", "SerialNumber": "437XR1138R2"});
        let card = |n: u32| {
            json!({"@odata.id": format!("/redfish/v1/Chassis/DPU{n}"), "Id": format!("DPU{n}"),
            "ChassisType": "Card", "Manufacturer": "Nvidia", "Model": "BlueField-3", "SerialNumber": format!("MT{n}"),
            "Links": {"ContainedBy": {"@odata.id": "/redfish/v1/Chassis/1U"}}})
        };
        let soc = |n: u32| {
            json!({"@odata.id": format!("/redfish/v1/Systems/DPU{n}"), "SystemType": "DPU",
            "Links": {"Chassis": [{"@odata.id": format!("/redfish/v1/Chassis/DPU{n}")}]}})
        };
        let (c1, c2, s1, s2) = (card(1), card(2), soc(1), soc(2));
        // A card without a system (a plain NIC) is not a DPU.
        let nic = json!({"@odata.id": "/redfish/v1/Chassis/NIC", "ChassisType": "Card"});
        let found = cards(&[&host, &c1, &c2, &nic], &[&s1, &s2], &[]);
        assert_eq!(found.len(), 2);
        let k = keys(&found[1]);
        assert!(
            k.contains(&("dpu.serial_number".into(), "MT2".into())),
            "{k:?}"
        );
        assert!(k.contains(&("dpu.host.chassis.id".into(), "1U".into())));
        assert!(k.contains(&("dpu.host.serial_number".into(), "437XR1138R2".into())));
        assert!(attributes_for(&found, "/redfish/v1/Chassis/1U").is_none());
        assert_eq!(
            attributes_for(&found, "/redfish/v1/Systems/DPU2"),
            Some(found[1].attributes.as_slice())
        );
        // Placed by ContainedBy: no PCIe device needs reading.
        assert!(needs_pcie(&[&host, &c1, &c2], &[&s1, &s2]).is_empty());
    }

    /// A host BMC that says where the card is only through a PCIeDevice of its server.
    #[test]
    fn a_pcie_device_of_the_server_places_the_card() {
        let host = json!({"@odata.id": "/redfish/v1/Chassis/1U", "Id": "1U", "ChassisType": "RackMount",
            "SerialNumber": "437XR1138R2", "PCIeDevices": {"@odata.id": "/redfish/v1/Chassis/1U/PCIeDevices"}});
        let card = json!({"@odata.id": "/redfish/v1/Chassis/DPU", "Id": "DPU", "ChassisType": "Card",
            "Manufacturer": "Nvidia", "Links": {"ComputerSystems": [{"@odata.id": "/redfish/v1/Systems/DPU"}]},
            "PCIeDevices": {"@odata.id": "/redfish/v1/Chassis/DPU/PCIeDevices"}});
        assert_eq!(needs_pcie(&[&host, &card], &[]), ["/redfish/v1/Chassis/1U"]);
        let devices = vec![
            json!({"@odata.id": "/redfish/v1/Chassis/1U/PCIeDevices/NIC", "Links": {}}),
            json!({"@odata.id": "/redfish/v1/Chassis/1U/PCIeDevices/Slot3",
                "Links": {"Chassis": [{"@odata.id": "/redfish/v1/Chassis/DPU"}]}}),
        ];
        let found = cards(
            &[&host, &card],
            &[],
            &[("/redfish/v1/Chassis/1U".into(), devices)],
        );
        let k = keys(&found[0]);
        assert!(
            k.contains(&("dpu.host.chassis.id".into(), "1U".into())),
            "{k:?}"
        );
        assert!(k.contains(&("dpu.host.serial_number".into(), "437XR1138R2".into())));
        // Without the PCIe devices read, the card is still a DPU, with no host.
        let alone = cards(&[&host, &card], &[], &[]);
        assert!(
            !keys(&alone[0])
                .iter()
                .any(|(k, _)| k.starts_with("dpu.host."))
        );
    }
}
