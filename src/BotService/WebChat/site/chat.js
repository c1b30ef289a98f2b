// The clinic's chat page: gets a Direct Line token from our own /api/webchat/token, keeps the conversation id and the
// (refreshed) token in sessionStorage so a reload resumes with history, and renders the official Web Chat bundle
// (served from this origin) against our Direct Line endpoint. No inline script: the page's CSP allows scripts from
// 'self' only; Web Chat's CSS-in-JS gets the page's style nonce. Staff replies are labelled through Web Chat's own
// middleware (see "Staff replies" below), rendered with window.React: the React 16.8.6 build the bundle runs on.
'use strict';
(function () {
  var nonce = document.currentScript ? document.currentScript.nonce : undefined;
  var KEY = 'clinic.chat';
  var domain = location.origin + '/v3/directline';
  var statusEl = document.getElementById('chat-status');

  function setStatus(text) { statusEl.textContent = text; }

  function load() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (e) { return null; }
  }

  function save(value) {
    try { sessionStorage.setItem(KEY, JSON.stringify(value)); } catch (e) { /* private mode: no resume */ }
  }

  async function post(url, token) {
    var response = await fetch(url, {
      method: 'POST', cache: 'no-store', credentials: 'same-origin',
      headers: token ? { Authorization: 'Bearer ' + token } : {},
    });
    if (!response.ok) { throw new Error('HTTP ' + response.status); }
    return response.json();
  }

  // A started conversation of this tab resumes (its token refreshed, since it may be near expiry); anything else,
  // or a refresh that fails (expired, conversation gone), starts a new one.
  async function session() {
    var saved = load();
    if (saved && saved.token && saved.conversationId && saved.started) {
      try {
        var refreshed = await post(domain + '/tokens/refresh', saved.token);
        return { token: refreshed.token, conversationId: saved.conversationId, resume: true };
      } catch (e) {
        sessionStorage.removeItem(KEY);
      }
    }
    var issued = await post('/api/webchat/token');
    return { token: issued.token, conversationId: issued.conversationId, resume: false };
  }

  var styleOptions = {
    accent: '#0b5cad',
    primaryFont: '"Segoe UI", system-ui, -apple-system, Roboto, "Helvetica Neue", Arial, sans-serif',
    backgroundColor: '#ffffff',
    subtle: '#4a5663',
    bubbleBackground: '#eef3f8',
    bubbleBorderColor: '#c5d2df',
    bubbleBorderRadius: 10,
    bubbleTextColor: '#1b2733',
    bubbleFromUserBackground: '#0b5cad',
    bubbleFromUserBorderColor: '#0b5cad',
    bubbleFromUserBorderRadius: 10,
    bubbleFromUserTextColor: '#ffffff',
    botAvatarInitials: 'C',
    botAvatarBackgroundColor: '#0b5cad',
    userAvatarInitials: 'You',
    userAvatarBackgroundColor: '#4a5663',
    hideUploadButton: true,
    suggestedActionLayout: 'flow',
    suggestedActionBackgroundColor: '#ffffff',
    suggestedActionBorderColor: '#0b5cad',
    suggestedActionTextColor: '#0b4a8b',
    suggestedActionBorderRadius: 18,
    sendBoxButtonColor: '#0b5cad',
    sendBoxBorderTop: 'solid 1px #c5d2df',
    // Keyboard focus: 2px indicators in the clinic's blue (Web Chat's default is 1px grey).
    sendBoxButtonKeyboardFocusIndicatorBorderColor: '#0b5cad',
    sendBoxButtonKeyboardFocusIndicatorBorderWidth: 2,
    suggestedActionKeyboardFocusIndicatorBorderColor: '#0b5cad',
    suggestedActionKeyboardFocusIndicatorBorderWidth: 2,
    suggestedActionsVisualKeyboardIndicatorColor: '#0b5cad',
    transcriptActivityVisualKeyboardIndicatorColor: '#0b5cad',
    transcriptVisualKeyboardIndicatorColor: '#0b5cad',
  };

  // Web Chat has no style option for the message box's focus (its input has "outline: 0" and nothing else): one
  // addition to its own style set, drawn inside the box so nothing around it moves. The second: Web Chat's feedback
  // buttons under an answer (thumbs up and down) are 16px squares with a 1px grey focus ring; here they are 44px
  // targets (a finger on a phone) with the clinic's 2px focus indicator.
  function styleSetWithFocusedSendBox() {
    var styleSet = window.WebChat.createStyleSet(styleOptions);
    styleSet.sendBoxTextBox = Object.assign({}, styleSet.sendBoxTextBox, {
      '&:focus-within': { outline: 'solid 2px #0b5cad', outlineOffset: -2 },
    });
    var thumb = (styleSet.thumbButton || {})['&.webchat__thumb-button'] || {};
    styleSet.thumbButton = Object.assign({}, styleSet.thumbButton, {
      '&.webchat__thumb-button': Object.assign({}, thumb, {
        width: 44, height: 44, display: 'inline-flex', alignItems: 'center', justifyContent: 'center', verticalAlign: 'middle',
        '&:focus': { outline: 'solid 2px #0b5cad', outlineOffset: -2 },
        '& .webchat__thumb-button__image': { color: '#0b5cad', width: 20 },
      }),
    });
    return styleSet;
  }

  // An answer the visitor can rate (the bot adds Web Chat's LikeAction/DislikeAction to its message entity).
  function hasFeedback(activity) {
    return (activity.entities || []).some(function (e) {
      return e && e.type === 'https://schema.org/Message' && e.potentialAction;
    });
  }

  // Staff replies. A reply from the staff dashboard comes from "staff:<opaque id>" named "Clinic staff", with role
  // "bot" (Web Chat knows only the visitor and everyone else) and the staff member's words only. Web Chat's own
  // customisation points make the difference visible and heard:
  // - groupActivitiesMiddleware: a staff message never joins the bot's group (Web Chat groups by role, and the group's
  //   first message picks the avatar);
  // - avatarMiddleware: a green "Staff" avatar instead of the bot's "C";
  // - activityStatusMiddleware: "Clinic staff" in the message's status line, under the bubble;
  // - the store: Web Chat's 'webchat:fallback-text' ("Clinic staff wrote: …") is what its live region announces and
  //   what the transcript reads out when the message is focused; the greeting before it (ACTIVITY_BOT_SAID_ALT, one
  //   string for every non-visitor sender) says "From the clinic:" instead of "Bot C said:".
  var STAFF_LABEL = 'Clinic staff';

  function isStaff(activity) {
    var from = activity && activity.from;
    return !!from && from.role !== 'user' && typeof from.id === 'string' && from.id.indexOf('staff:') === 0;
  }

  function senderOf(activity) {
    return activity.from && activity.from.role === 'user' ? 'user' : isStaff(activity) ? activity.from.id : 'bot';
  }

  var groupActivitiesMiddleware = function () {
    return function (next) {
      return function (args) {
        var groups = next(args);
        var sender = [];
        args.activities.forEach(function (activity, i) {
          if (i && senderOf(args.activities[i - 1]) === senderOf(activity)) {
            sender[sender.length - 1].push(activity);
          } else {
            sender.push([activity]);
          }
        });
        // Web Chat shows the status line (time, and an answer's feedback buttons) only under the last message of a
        // status group: every answer ends its group, so each one keeps its buttons.
        var status = [];
        (groups.status || []).forEach(function (group) {
          var current = [];
          group.forEach(function (activity) {
            current.push(activity);
            if (hasFeedback(activity)) { status.push(current); current = []; }
          });
          if (current.length) { status.push(current); }
        });
        return { sender: sender, status: status };
      };
    };
  };

  function staffMiddleware(React) {
    var h = React.createElement;
    return {
      avatarMiddleware: function () {
        return function (next) {
          return function (args) {
            if (!isStaff(args.activity)) { return next(args); }
            return function () { return h('div', { className: 'clinic-staff-avatar', 'aria-hidden': true }, 'Staff'); };
          };
        };
      },
      activityStatusMiddleware: function () {
        return function (next) {
          return function (args) {
            var status = next(args);
            if (!isStaff(args.activity)) { return status; }
            return h(React.Fragment, null, h('span', { className: 'clinic-sender' }, STAFF_LABEL), status);
          };
        };
      },
    };
  }

  function labelStaffForScreenReaders() {
    return function () {
      return function (next) {
        return function (action) {
          var activity = action.type === 'DIRECT_LINE/INCOMING_ACTIVITY' && action.payload && action.payload.activity;
          if (activity && activity.type === 'message' && isStaff(activity)) {
            var channelData = Object.assign({}, activity.channelData, { 'webchat:fallback-text': STAFF_LABEL + ' wrote: ' + (activity.text || '') });
            action = Object.assign({}, action, { payload: Object.assign({}, action.payload, { activity: Object.assign({}, activity, { channelData: channelData }) }) });
          }
          return next(action);
        };
      };
    };
  }

  async function start() {
    if (!window.WebChat) {
      setStatus('The chat could not load. In an emergency call 911, or call or text 988.');
      return;
    }
    var current;
    try {
      current = await session();
    } catch (e) {
      setStatus('The chat is unavailable right now. Please try again shortly. In an emergency call 911, or call or text 988.');
      return;
    }
    var state = { token: current.token, conversationId: current.conversationId, started: current.resume };
    save(state);

    var directLine = window.WebChat.createDirectLine({
      token: current.token,
      conversationId: current.resume ? current.conversationId : undefined,
      domain: domain,
      webSocket: true,
    });
    // directlinejs refreshes the token itself every 15 minutes; keep the newest one for a reload.
    directLine.connectionStatus$.subscribe(function (status) {
      if (status === 2) { // Online
        state.started = true;
        state.token = directLine.token || state.token;
        save(state);
        setStatus('');
      } else if (status === 4) { // FailedToConnect
        setStatus('The chat could not connect. Press "End chat" to start again. In an emergency call 911, or call or text 988.');
      } else if (status === 3) { // ExpiredToken
        setStatus('This chat has expired. Press "End chat" to start a new one.');
      }
    });
    var keepToken = function () {
      if (directLine.token && directLine.token !== state.token) { state.token = directLine.token; save(state); }
    };
    setInterval(keepToken, 60 * 1000);
    window.addEventListener('pagehide', keepToken);

    var store = window.WebChat.createStore({}, labelStaffForScreenReaders());
    // Without window.React (a build from an older lockfile) the page still works; staff messages then only carry
    // their spoken label, not the avatar and the visible one.
    var staff = window.React ? staffMiddleware(window.React) : {};
    window.WebChat.renderWebChat({
      directLine: directLine,
      store: store,
      styleOptions: styleOptions,
      styleSet: styleSetWithFocusedSendBox(),
      groupActivitiesMiddleware: groupActivitiesMiddleware,
      avatarMiddleware: staff.avatarMiddleware,
      activityStatusMiddleware: staff.activityStatusMiddleware,
      locale: 'en-US',
      nonce: nonce,
      overrideLocalizedStrings: {
        TEXT_INPUT_PLACEHOLDER: 'Type your question', ACTIVITY_BOT_SAID_ALT: 'From the clinic:',
        VOTE_LIKE_ALT: 'This answer helped', VOTE_DISLIKE_ALT: 'This answer did not help',
      },
    }, document.getElementById('webchat'));

    document.getElementById('talk-to-staff').addEventListener('click', function () {
      store.dispatch({ type: 'WEB_CHAT/SEND_EVENT', payload: { name: 'handoff.request', value: { reason: 'visitor' } } });
    });
    endChat = function () {
      try { directLine.end(); } catch (e) { /* already closed */ }
    };
  }

  var endChat = function () {};
  document.getElementById('end-chat').addEventListener('click', function () {
    // Shared devices: nothing of this conversation stays in the tab; the reload starts a new one.
    sessionStorage.removeItem(KEY);
    endChat();
    location.reload();
  });

  start();
})();
