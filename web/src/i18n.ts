// The page's words in English, German and French. The language comes from the browser
// (navigator.languages) until the customer picks one with the switcher; the choice is
// remembered in this browser. Wording follows the vendor's own help pages (the seeds):
// "Saisir une clé de produit", "Votre protection expire dans X jours", "Lizenzen auf
// mehreren Geräten verwalten", "um Überschneidungen zu vermeiden".

export type Lang = "en" | "de" | "fr";

export const LANGUAGES: ReadonlyArray<{ code: Lang; name: string }> = [
  { code: "en", name: "English" },
  { code: "de", name: "Deutsch" },
  { code: "fr", name: "Français" },
];

const CHOICE_KEY = "tessera.lang";

/** The remembered choice, else the first of the browser's languages the page speaks. */
export function initialLanguage(): Lang {
  const stored = localStorage.getItem(CHOICE_KEY);
  if (isLang(stored)) return stored;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split("-")[0];
    if (isLang(base)) return base;
  }
  return "en";
}

export function rememberLanguage(lang: Lang): void {
  localStorage.setItem(CHOICE_KEY, lang);
}

function isLang(value: string | null | undefined): value is Lang {
  return value === "en" || value === "de" || value === "fr";
}

const en = {
  "page.title": "My account · Tessera",
  "page.skip": "Skip to content",
  "page.brand": "Tessera",
  "page.heading": "My account",
  "page.language": "Language",
  "page.loading": "Loading…",
  "page.signedInAs": "Signed in as {email}",
  "page.signOut": "Sign out",
  "page.signedOut": "You are signed out.",
  "page.sessionEnded": "Your session has ended. Please sign in again.",
  "page.welcome": "You are signed in.",

  "signIn.heading": "Sign in",
  "signIn.intro": "Sign in to see your subscriptions and the devices they protect.",
  "signIn.email": "E-mail address",
  "signIn.password": "Password",
  "signIn.submit": "Sign in",
  "signUp.heading": "Create an account",
  "signUp.intro": "No account yet? Create one, then enter your product key or partner code.",
  "signUp.passwordHint": "At least 10 characters.",
  "signUp.displayName": "Your name (optional)",
  "signUp.submit": "Create account",

  "add.heading": "Add a subscription",
  "key.label": "Product key",
  "key.hint": "The 25 characters from your card or purchase e-mail, like XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.",
  "key.target": "Use the key for",
  "key.targetNew": "A new subscription",
  "key.targetRenew": "Renewing {plan}",
  "key.submit": "Check and add",
  "key.added": "Added: {plan}.",
  "key.renewed": "Renewed: {plan}.",
  "code.label": "Partner code",
  "code.hint": "The 15-character code (activation PIN) from your provider, like XXXXX-XXXXX-XXXXX.",
  "code.submit": "Add",

  "overlap.heading": "You are protected twice",
  "overlap.text":
    "Your account is covered by more than one subscription: {list}. Keep {keep} and let the others end, so that you manage your protection in one place.",

  "subs.heading": "My subscriptions",
  "subs.refresh": "Refresh",
  "subs.refreshed": "Subscriptions and devices are up to date.",
  "subs.none": "You have no subscription yet. Add one with a product key or a partner code.",
  "sub.status": "Status",
  "sub.protection": "Protection",
  "sub.protected": "Devices are protected",
  "sub.unprotected": "Devices are not protected",
  "sub.daysLeft_one": "{n} day (until {date})",
  "sub.daysLeft_other": "{n} days (until {date})",
  "sub.daysLeftLabel": "Days left",
  "sub.devicesLabel": "Devices",
  "sub.devices": "{used} of {limit}",
  "sub.full": "full: remove a device to protect a new one",
  "sub.productKey": "Product key",
  "sub.channel": "Bought",
  "sub.renewal": "Renewal",
  "sub.autoRenew": "Renew automatically",
  "sub.autoRenewOn": "Automatic renewal is on for {plan}.",
  "sub.autoRenewOff": "Automatic renewal is off for {plan}.",
  "sub.endsAtTermEnd": "Ends at the end of the term",

  "status.TRIAL": "Trial",
  "status.ACTIVE": "Active",
  "status.GRACE": "Ended, in the grace period",
  "status.SUSPENDED": "Suspended",
  "status.EXPIRED": "Expired",
  "status.CANCELLED": "Cancelled",
  "channel.DIRECT": "In the web shop",
  "channel.RETAIL": "With a product key",
  "channel.CARRIER": "From your provider",
  "channel.APP_STORE": "In the App Store",
  "channel.PLAY_STORE": "On Google Play",
  "renewal.CARRIER": "Renewed by your provider",
  "renewal.RETAIL": "With a renewal product key",
  "renewal.APP_STORE": "Through the App Store",
  "renewal.PLAY_STORE": "Through Google Play",

  "warning.EXPIRING_SOON_one": "Your protection expires in {n} day.",
  "warning.EXPIRING_SOON_other": "Your protection expires in {n} days.",
  "warning.IN_GRACE_one": "Your subscription has ended; protection stops in {n} day.",
  "warning.IN_GRACE_other": "Your subscription has ended; protection stops in {n} days.",
  "warning.EXPIRED": "Your protection has expired.",
  "warning.SUSPENDED": "Your subscription is suspended: contact your provider.",
  "warning.CANCELLED": "Your subscription was cancelled.",
  "warning.SEAT_REMOVED": "This device was removed from your subscription.",
  "action.heading": "What you can do",
  "action.turnOnAutoRenew": "Turn on automatic renewal",
  "action.enterRenewalKey": "Enter a renewal key",
  "action.renewCarrier": "Ask your provider to renew it.",
  "action.renewStore": "Renew it in the store where you bought it.",
  "action.apply": "Apply another subscription: move your devices to {list} with “Move to” below.",
  "action.recover": "Bought in the App Store or on Google Play? Open the app and tap “Recover your purchase”.",

  "devices.heading": "Devices",
  "devices.none": "No device uses this subscription yet. Sign in with your account in the app to protect a device.",
  "device.lastSeen": "Last seen {date}",
  "device.neverSeen": "Not seen yet",
  "device.remove": "Remove",
  "device.moveTo": "Move to",
  "device.move": "Move",
  "device.moved": "{device} now uses {plan}.",
  "device.removed": "{device} was removed. It is no longer protected.",
  "confirm.heading": "Remove this device?",
  "confirm.text":
    "{device} will no longer be protected by {plan}, and its seat becomes free for another device.",
  "confirm.remove": "Remove device",
  "confirm.cancel": "Cancel",

  "subject.product_key": "The product key",
  "subject.partner_code": "The partner code",
  "subject.email": "The e-mail address",
  "subject.password": "The password",
  "subject.display_name": "The name",
  "subject.subscription": "The subscription",
  "error.field": "{subject} {description}.",
  "error.INVALID_CREDENTIALS": "The e-mail address or password is wrong.",
  "error.ACCOUNT_EXISTS": "An account with this e-mail address exists already. Sign in instead.",
  "error.PRODUCT_KEY_NOT_FOUND": "This product key is unknown. Compare it with your card or e-mail.",
  "error.PRODUCT_KEY_ALREADY_REDEEMED": "This product key has already been used by another account.",
  "error.PARTNER_CODE_NOT_FOUND": "This partner code is unknown or was replaced. Ask your provider for a new one.",
  "error.PARTNER_CODE_ALREADY_REDEEMED": "This partner code has already been used by another account.",
  "error.PARTNER_CODE_EXPIRED": "This partner code has expired. Ask your provider for a new one.",
  "error.REDEMPTION_THROTTLED": "Too many attempts. Please try again in {minutes} minutes.",
  "error.SEAT_LIMIT_REACHED_one": "The only seat of that subscription is taken: remove its device first.",
  "error.SEAT_LIMIT_REACHED_other": "All {n} seats of that subscription are taken: remove one of its devices first.",
  "error.heldDevices": "Devices on it: {list}.",
  "error.SUBSCRIPTION_NOT_ACTIVE": "That subscription takes no new devices in its current status.",
  "error.SUBSCRIPTION_ENDED": "This subscription has ended.",
  "error.unavailable": "Tessera cannot be reached right now. Please try again in a moment.",
  "error.other": "That did not work: {message}",

  "platform.WINDOWS": "Windows",
  "platform.MACOS": "macOS",
  "platform.ANDROID": "Android",
  "platform.IOS": "iOS",
  "platform.UNSPECIFIED": "Unknown system",
};

export type Key = keyof typeof en;

const de: Record<Key, string> = {
  "page.title": "Mein Konto · Tessera",
  "page.skip": "Zum Inhalt springen",
  "page.brand": "Tessera",
  "page.heading": "Mein Konto",
  "page.language": "Sprache",
  "page.loading": "Wird geladen …",
  "page.signedInAs": "Angemeldet als {email}",
  "page.signOut": "Abmelden",
  "page.signedOut": "Sie sind abgemeldet.",
  "page.sessionEnded": "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.",
  "page.welcome": "Sie sind angemeldet.",

  "signIn.heading": "Anmelden",
  "signIn.intro": "Melden Sie sich an, um Ihre Abonnements und die geschützten Geräte zu sehen.",
  "signIn.email": "E-Mail-Adresse",
  "signIn.password": "Passwort",
  "signIn.submit": "Anmelden",
  "signUp.heading": "Konto erstellen",
  "signUp.intro":
    "Noch kein Konto? Erstellen Sie eines und geben Sie dann Ihren Produktschlüssel oder Partnercode ein.",
  "signUp.passwordHint": "Mindestens 10 Zeichen.",
  "signUp.displayName": "Ihr Name (freiwillig)",
  "signUp.submit": "Konto erstellen",

  "add.heading": "Abonnement hinzufügen",
  "key.label": "Produktschlüssel",
  "key.hint":
    "Die 25 Zeichen von Ihrer Karte oder aus Ihrer Kauf-E-Mail, etwa XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.",
  "key.target": "Schlüssel verwenden für",
  "key.targetNew": "Ein neues Abonnement",
  "key.targetRenew": "Verlängerung von {plan}",
  "key.submit": "Prüfen und hinzufügen",
  "key.added": "Hinzugefügt: {plan}.",
  "key.renewed": "Verlängert: {plan}.",
  "code.label": "Partnercode",
  "code.hint": "Der 15-stellige Code (Aktivierungs-PIN) von Ihrem Anbieter, etwa XXXXX-XXXXX-XXXXX.",
  "code.submit": "Hinzufügen",

  "overlap.heading": "Sie sind doppelt geschützt",
  "overlap.text":
    "Ihr Konto ist durch mehr als ein Abonnement abgedeckt: {list}. Behalten Sie {keep} und lassen Sie die anderen auslaufen, damit Sie Ihren Schutz an einer Stelle verwalten und Überschneidungen vermeiden.",

  "subs.heading": "Meine Abonnements",
  "subs.refresh": "Aktualisieren",
  "subs.refreshed": "Abonnements und Geräte sind aktuell.",
  "subs.none":
    "Sie haben noch kein Abonnement. Fügen Sie eines mit einem Produktschlüssel oder Partnercode hinzu.",
  "sub.status": "Status",
  "sub.protection": "Schutz",
  "sub.protected": "Geräte sind geschützt",
  "sub.unprotected": "Geräte sind nicht geschützt",
  "sub.daysLeft_one": "{n} Tag (bis {date})",
  "sub.daysLeft_other": "{n} Tage (bis {date})",
  "sub.daysLeftLabel": "Verbleibende Tage",
  "sub.devicesLabel": "Geräte",
  "sub.devices": "{used} von {limit}",
  "sub.full": "voll: Entfernen Sie ein Gerät, um ein neues zu schützen",
  "sub.productKey": "Produktschlüssel",
  "sub.channel": "Gekauft",
  "sub.renewal": "Verlängerung",
  "sub.autoRenew": "Automatisch verlängern",
  "sub.autoRenewOn": "Die automatische Verlängerung ist für {plan} eingeschaltet.",
  "sub.autoRenewOff": "Die automatische Verlängerung ist für {plan} ausgeschaltet.",
  "sub.endsAtTermEnd": "Endet mit Ablauf der Laufzeit",

  "status.TRIAL": "Testversion",
  "status.ACTIVE": "Aktiv",
  "status.GRACE": "Abgelaufen, in der Nachfrist",
  "status.SUSPENDED": "Gesperrt",
  "status.EXPIRED": "Abgelaufen",
  "status.CANCELLED": "Gekündigt",
  "channel.DIRECT": "Im Webshop",
  "channel.RETAIL": "Mit Produktschlüssel",
  "channel.CARRIER": "Über Ihren Anbieter",
  "channel.APP_STORE": "Im App Store",
  "channel.PLAY_STORE": "Bei Google Play",
  "renewal.CARRIER": "Verlängert Ihr Anbieter",
  "renewal.RETAIL": "Mit einem Verlängerungsschlüssel",
  "renewal.APP_STORE": "Über den App Store",
  "renewal.PLAY_STORE": "Über Google Play",

  "warning.EXPIRING_SOON_one": "Ihr Schutz läuft in {n} Tag ab.",
  "warning.EXPIRING_SOON_other": "Ihr Schutz läuft in {n} Tagen ab.",
  "warning.IN_GRACE_one": "Ihr Abonnement ist abgelaufen; der Schutz endet in {n} Tag.",
  "warning.IN_GRACE_other": "Ihr Abonnement ist abgelaufen; der Schutz endet in {n} Tagen.",
  "warning.EXPIRED": "Ihr Schutz ist abgelaufen.",
  "warning.SUSPENDED": "Ihr Abonnement ist gesperrt: Wenden Sie sich an Ihren Anbieter.",
  "warning.CANCELLED": "Ihr Abonnement wurde gekündigt.",
  "warning.SEAT_REMOVED": "Dieses Gerät wurde aus Ihrem Abonnement entfernt.",
  "action.heading": "Was Sie tun können",
  "action.turnOnAutoRenew": "Automatische Verlängerung einschalten",
  "action.enterRenewalKey": "Verlängerungsschlüssel eingeben",
  "action.renewCarrier": "Bitten Sie Ihren Anbieter, es zu verlängern.",
  "action.renewStore": "Verlängern Sie es im Store, in dem Sie es gekauft haben.",
  "action.apply":
    "Anderes Abonnement anwenden: Verschieben Sie Ihre Geräte unten mit „Verschieben nach“ zu {list}.",
  "action.recover":
    "Im App Store oder bei Google Play gekauft? Öffnen Sie die App und tippen Sie auf „Kauf wiederherstellen“.",

  "devices.heading": "Geräte",
  "devices.none":
    "Noch kein Gerät nutzt dieses Abonnement. Melden Sie sich in der App mit Ihrem Konto an, um ein Gerät zu schützen.",
  "device.lastSeen": "Zuletzt gesehen {date}",
  "device.neverSeen": "Noch nicht gesehen",
  "device.remove": "Entfernen",
  "device.moveTo": "Verschieben nach",
  "device.move": "Verschieben",
  "device.moved": "{device} nutzt jetzt {plan}.",
  "device.removed": "{device} wurde entfernt und ist nicht mehr geschützt.",
  "confirm.heading": "Dieses Gerät entfernen?",
  "confirm.text":
    "{device} wird nicht mehr durch {plan} geschützt, und seine Lizenz wird für ein anderes Gerät frei.",
  "confirm.remove": "Gerät entfernen",
  "confirm.cancel": "Abbrechen",

  "subject.product_key": "Der Produktschlüssel",
  "subject.partner_code": "Der Partnercode",
  "subject.email": "Die E-Mail-Adresse",
  "subject.password": "Das Passwort",
  "subject.display_name": "Der Name",
  "subject.subscription": "Das Abonnement",
  "error.field": "{subject} {description}.",
  "error.INVALID_CREDENTIALS": "E-Mail-Adresse oder Passwort ist falsch.",
  "error.ACCOUNT_EXISTS":
    "Ein Konto mit dieser E-Mail-Adresse gibt es bereits. Melden Sie sich stattdessen an.",
  "error.PRODUCT_KEY_NOT_FOUND":
    "Dieser Produktschlüssel ist unbekannt. Vergleichen Sie ihn mit Ihrer Karte oder E-Mail.",
  "error.PRODUCT_KEY_ALREADY_REDEEMED": "Dieser Produktschlüssel wurde bereits von einem anderen Konto verwendet.",
  "error.PARTNER_CODE_NOT_FOUND":
    "Dieser Partnercode ist unbekannt oder wurde ersetzt. Bitten Sie Ihren Anbieter um einen neuen.",
  "error.PARTNER_CODE_ALREADY_REDEEMED": "Dieser Partnercode wurde bereits von einem anderen Konto verwendet.",
  "error.PARTNER_CODE_EXPIRED": "Dieser Partnercode ist abgelaufen. Bitten Sie Ihren Anbieter um einen neuen.",
  "error.REDEMPTION_THROTTLED": "Zu viele Versuche. Bitte versuchen Sie es in {minutes} Minuten erneut.",
  "error.SEAT_LIMIT_REACHED_one": "Die einzige Lizenz dieses Abonnements ist belegt: Entfernen Sie zuerst sein Gerät.",
  "error.SEAT_LIMIT_REACHED_other":
    "Alle {n} Lizenzen dieses Abonnements sind belegt: Entfernen Sie zuerst eines seiner Geräte.",
  "error.heldDevices": "Geräte darauf: {list}.",
  "error.SUBSCRIPTION_NOT_ACTIVE": "Dieses Abonnement nimmt in seinem Status keine neuen Geräte auf.",
  "error.SUBSCRIPTION_ENDED": "Dieses Abonnement ist beendet.",
  "error.unavailable": "Tessera ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
  "error.other": "Das hat nicht geklappt: {message}",

  "platform.WINDOWS": "Windows",
  "platform.MACOS": "macOS",
  "platform.ANDROID": "Android",
  "platform.IOS": "iOS",
  "platform.UNSPECIFIED": "Unbekanntes System",
};

const fr: Record<Key, string> = {
  "page.title": "Mon compte · Tessera",
  "page.skip": "Aller au contenu",
  "page.brand": "Tessera",
  "page.heading": "Mon compte",
  "page.language": "Langue",
  "page.loading": "Chargement…",
  "page.signedInAs": "Connecté en tant que {email}",
  "page.signOut": "Déconnexion",
  "page.signedOut": "Vous êtes déconnecté.",
  "page.sessionEnded": "Votre session a pris fin. Veuillez vous reconnecter.",
  "page.welcome": "Vous êtes connecté.",

  "signIn.heading": "Connexion",
  "signIn.intro": "Connectez-vous pour voir vos abonnements et les appareils qu'ils protègent.",
  "signIn.email": "Adresse électronique",
  "signIn.password": "Mot de passe",
  "signIn.submit": "Connexion",
  "signUp.heading": "Créer un compte",
  "signUp.intro":
    "Vous n'avez pas de compte ? Créez-en un, puis saisissez votre clé de produit ou votre code partenaire.",
  "signUp.passwordHint": "Au moins 10 caractères.",
  "signUp.displayName": "Votre nom (facultatif)",
  "signUp.submit": "Créer un compte",

  "add.heading": "Ajouter un abonnement",
  "key.label": "Clé de produit",
  "key.hint":
    "Les 25 caractères reçus avec votre achat, sur la carte ou dans le message électronique, comme XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.",
  "key.target": "Utiliser la clé pour",
  "key.targetNew": "Un nouvel abonnement",
  "key.targetRenew": "Renouveler {plan}",
  "key.submit": "Vérifier et ajouter",
  "key.added": "Ajouté : {plan}.",
  "key.renewed": "Renouvelé : {plan}.",
  "code.label": "Code partenaire",
  "code.hint":
    "Le code de 15 caractères (code PIN d'activation) envoyé par votre fournisseur de services, comme XXXXX-XXXXX-XXXXX.",
  "code.submit": "Suivant",

  "overlap.heading": "Vous êtes protégé deux fois",
  "overlap.text":
    "Votre compte est couvert par plus d'un abonnement : {list}. Gardez {keep} et laissez les autres prendre fin, afin de gérer votre protection en un seul endroit.",

  "subs.heading": "Mes abonnements",
  "subs.refresh": "Actualiser",
  "subs.refreshed": "Les abonnements et les appareils sont à jour.",
  "subs.none":
    "Vous n'avez pas encore d'abonnement. Ajoutez-en un avec une clé de produit ou un code partenaire.",
  "sub.status": "État",
  "sub.protection": "Protection",
  "sub.protected": "Les appareils sont protégés",
  "sub.unprotected": "Les appareils ne sont pas protégés",
  "sub.daysLeft_one": "{n} jour (jusqu'au {date})",
  "sub.daysLeft_other": "{n} jours (jusqu'au {date})",
  "sub.daysLeftLabel": "Jours restants",
  "sub.devicesLabel": "Appareils",
  "sub.devices": "{used} sur {limit}",
  "sub.full": "complet : supprimez un appareil pour en protéger un nouveau",
  "sub.productKey": "Clé de produit",
  "sub.channel": "Acheté",
  "sub.renewal": "Renouvellement",
  "sub.autoRenew": "Renouveler automatiquement",
  "sub.autoRenewOn": "Le renouvellement automatique est activé pour {plan}.",
  "sub.autoRenewOff": "Le renouvellement automatique est désactivé pour {plan}.",
  "sub.endsAtTermEnd": "Prend fin à l'échéance",

  "status.TRIAL": "Période d'évaluation",
  "status.ACTIVE": "Actif",
  "status.GRACE": "Terminé, en période de grâce",
  "status.SUSPENDED": "Suspendu",
  "status.EXPIRED": "Expiré",
  "status.CANCELLED": "Annulé",
  "channel.DIRECT": "Sur la boutique en ligne",
  "channel.RETAIL": "Avec une clé de produit",
  "channel.CARRIER": "Auprès de votre fournisseur de services",
  "channel.APP_STORE": "Sur l'App Store",
  "channel.PLAY_STORE": "Sur Google Play",
  "renewal.CARRIER": "Renouvelé par votre fournisseur de services",
  "renewal.RETAIL": "Avec une clé de renouvellement",
  "renewal.APP_STORE": "Par l'App Store",
  "renewal.PLAY_STORE": "Par Google Play",

  "warning.EXPIRING_SOON_one": "Votre protection expire dans {n} jour.",
  "warning.EXPIRING_SOON_other": "Votre protection expire dans {n} jours.",
  "warning.IN_GRACE_one": "Votre abonnement a pris fin ; la protection s'arrête dans {n} jour.",
  "warning.IN_GRACE_other": "Votre abonnement a pris fin ; la protection s'arrête dans {n} jours.",
  "warning.EXPIRED": "Votre protection a expiré.",
  "warning.SUSPENDED": "Votre abonnement est suspendu : contactez votre fournisseur de services.",
  "warning.CANCELLED": "Votre abonnement a été annulé.",
  "warning.SEAT_REMOVED": "Cet appareil a été retiré de votre abonnement.",
  "action.heading": "Ce que vous pouvez faire",
  "action.turnOnAutoRenew": "Activer le renouvellement automatique",
  "action.enterRenewalKey": "Saisir une clé de renouvellement",
  "action.renewCarrier": "Demandez à votre fournisseur de services de le renouveler.",
  "action.renewStore": "Renouvelez-le dans la boutique où vous l'avez acheté.",
  "action.apply":
    "Appliquer l'abonnement : déplacez vos appareils vers {list} avec « Déplacer vers » ci-dessous.",
  "action.recover":
    "Acheté sur l'App Store ou Google Play ? Ouvrez l'app et touchez « Récupérer votre achat ».",

  "devices.heading": "Appareils",
  "devices.none":
    "Aucun appareil n'utilise encore cet abonnement. Connectez-vous à votre compte dans l'app pour protéger un appareil.",
  "device.lastSeen": "Vu pour la dernière fois le {date}",
  "device.neverSeen": "Pas encore vu",
  "device.remove": "Supprimer",
  "device.moveTo": "Déplacer vers",
  "device.move": "Déplacer",
  "device.moved": "{device} utilise maintenant {plan}.",
  "device.removed": "{device} a été supprimé et n'est plus protégé.",
  "confirm.heading": "Supprimer cet appareil ?",
  "confirm.text":
    "{device} ne sera plus protégé par {plan}, et sa place sera libre pour un autre appareil.",
  "confirm.remove": "Supprimer l'appareil",
  "confirm.cancel": "Annuler",

  "subject.product_key": "La clé de produit",
  "subject.partner_code": "Le code partenaire",
  "subject.email": "L'adresse électronique",
  "subject.password": "Le mot de passe",
  "subject.display_name": "Le nom",
  "subject.subscription": "L'abonnement",
  "error.field": "{subject} {description}.",
  "error.INVALID_CREDENTIALS": "L'adresse électronique ou le mot de passe est incorrect.",
  "error.ACCOUNT_EXISTS": "Un compte existe déjà avec cette adresse électronique. Connectez-vous plutôt.",
  "error.PRODUCT_KEY_NOT_FOUND":
    "Cette clé de produit est inconnue. Comparez-la avec votre carte ou votre message électronique.",
  "error.PRODUCT_KEY_ALREADY_REDEEMED": "Cette clé de produit a déjà été utilisée par un autre compte.",
  "error.PARTNER_CODE_NOT_FOUND":
    "Ce code partenaire est inconnu ou a été remplacé. Demandez-en un nouveau à votre fournisseur de services.",
  "error.PARTNER_CODE_ALREADY_REDEEMED": "Ce code partenaire a déjà été utilisé par un autre compte.",
  "error.PARTNER_CODE_EXPIRED":
    "Ce code partenaire a expiré. Demandez-en un nouveau à votre fournisseur de services.",
  "error.REDEMPTION_THROTTLED": "Trop de tentatives. Veuillez réessayer dans {minutes} minutes.",
  "error.SEAT_LIMIT_REACHED_one": "L'unique place de cet abonnement est prise : supprimez d'abord son appareil.",
  "error.SEAT_LIMIT_REACHED_other":
    "Les {n} places de cet abonnement sont prises : supprimez d'abord l'un de ses appareils.",
  "error.heldDevices": "Appareils concernés : {list}.",
  "error.SUBSCRIPTION_NOT_ACTIVE": "Cet abonnement n'accepte pas de nouvel appareil dans son état actuel.",
  "error.SUBSCRIPTION_ENDED": "Cet abonnement a pris fin.",
  "error.unavailable": "Tessera est injoignable pour le moment. Veuillez réessayer dans un instant.",
  "error.other": "Cela n'a pas fonctionné : {message}",

  "platform.WINDOWS": "Windows",
  "platform.MACOS": "macOS",
  "platform.ANDROID": "Android",
  "platform.IOS": "iOS",
  "platform.UNSPECIFIED": "Système inconnu",
};

const CATALOGS: Record<Lang, Record<Key, string>> = { en, de, fr };

let current: Lang = "en";

export function language(): Lang {
  return current;
}

export function setLanguage(lang: Lang): void {
  current = lang;
  document.documentElement.lang = lang;
  document.title = t("page.title");
}

type Vars = Record<string, string | number>;

function fill(text: string, vars: Vars): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}

/** The text of `key` in the current language. */
export function t(key: Key, vars: Vars = {}): string {
  return fill(CATALOGS[current][key], vars);
}

/** The singular or plural form of `key` (`key_one` / `key_other`) for `n`, with `{n}` filled. */
export function tn(key: string, n: number, vars: Vars = {}): string {
  const form = new Intl.PluralRules(current).select(n) === "one" ? "one" : "other";
  return t(`${key}_${form}` as Key, { ...vars, n });
}

export function formatDate(date: Date): string {
  return new Intl.DateTimeFormat(current, { dateStyle: "long" }).format(date);
}

export function formatDateTime(date: Date): string {
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(date);
}

export function formatList(items: string[]): string {
  return new Intl.ListFormat(current, { style: "long", type: "conjunction" }).format(items);
}

// The API explains a bad field in English (`BadRequest.field_violations[].description`,
// e.g. "has a typing error: please check every character"). The page shows that
// explanation after the field's name: as given in English, translated in German and
// French. An explanation this table does not know is shown in English rather than not at
// all. A few explanations read better as a sentence of their own.
const DESCRIPTIONS: ReadonlyArray<{ api: RegExp; sentence?: string; de: string; fr: string }> = [
  {
    api: /^must have (\d+) characters \(dashes and spaces are ignored\)$/,
    de: "muss $1 Zeichen haben (Bindestriche und Leerzeichen werden ignoriert)",
    fr: "doit comporter $1 caractères (les tirets et les espaces sont ignorés)",
  },
  {
    api: /^contains a character that never appears in codes \(0, O, 1, I and L are not used\)$/,
    de: "enthält ein Zeichen, das in Codes nie vorkommt (0, O, 1, I und L werden nicht verwendet)",
    fr: "contient un caractère qui n'apparaît jamais dans les codes (0, O, 1, I et L ne sont pas utilisés)",
  },
  {
    api: /^has a typing error: please check every character$/,
    de: "enthält einen Tippfehler: Bitte prüfen Sie jedes Zeichen",
    fr: "contient une faute de frappe : vérifiez chaque caractère",
  },
  { api: /^is required$/, de: "ist erforderlich", fr: "est obligatoire" },
  {
    api: /^is not a valid e-mail address$/,
    de: "ist keine gültige E-Mail-Adresse",
    fr: "n'est pas une adresse électronique valide",
  },
  {
    api: /^must be 10 to 256 characters long$/,
    de: "muss 10 bis 256 Zeichen lang sein",
    fr: "doit comporter de 10 à 256 caractères",
  },
  {
    api: /^must be at most 100 characters without control characters$/,
    de: "darf höchstens 100 Zeichen ohne Steuerzeichen haben",
    fr: "doit comporter au plus 100 caractères, sans caractères de contrôle",
  },
  {
    api: /^a renewal key extends one of your subscriptions: name it$/,
    sentence: "This is a renewal key: choose the subscription it renews under “Use the key for”.",
    de: "Das ist ein Verlängerungsschlüssel: Wählen Sie unter „Schlüssel verwenden für“ das Abonnement, das er verlängert.",
    fr: "C'est une clé de renouvellement : choisissez sous « Utiliser la clé pour » l'abonnement à renouveler.",
  },
];

/** The API's explanation of what is wrong with `field`, as a sentence in the current language. */
export function describeField(field: string, description: string): string {
  const entry = DESCRIPTIONS.find((e) => e.api.test(description));
  const subjectKey = `subject.${field}`;
  const subject = subjectKey in en ? t(subjectKey as Key) : field;
  if (entry?.sentence !== undefined) {
    return current === "en" ? entry.sentence : description.replace(entry.api, entry[current]);
  }
  const said = entry && current !== "en" ? description.replace(entry.api, entry[current]) : description;
  return t("error.field", { subject, description: said });
}
