// The offline page: its texts in this device's language (it has no account to ask).

import { chooseLanguage, setLanguage, translatePage } from "/app/js/i18n.js";

await setLanguage(chooseLanguage(null));
translatePage();
