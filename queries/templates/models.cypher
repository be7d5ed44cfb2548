// name: models
// description: The models stored, with the settings their graphs were made with (JSON); Model nodes n2g did not write (no settings) are left out.
MATCH (m:Model)
WHERE m.settings IS NOT NULL
RETURN m.name AS name, m.settings AS settings
ORDER BY name
